// Package pace spaces the reconciles of a SidecarSet by what they cost.
//
// A reconcile goes through every matched pod: with ten thousand of them it took a good part of a second on a
// busy machine before the step package's memo, and still takes 10-15 ms. Run back to back, on every pod event
// of a rollout, reconciles take a core from the API server and the kubelets, whose work is what makes the
// rollout progress (measured on the local cluster with 10,000 pods: 1,158 reconciles and 124 CPU seconds for
// a rollout that took 278 s, against 362 and 42 for one that took 116 s). After a reconcile that took d, a
// pod event is acted on no sooner than d after it ended, so the loop is busy at most about half the time and
// an event waits at most about as long as a reconcile takes. With a hundred pods a reconcile takes a few
// milliseconds, and so does the wait.
//
// Worked numbers: a reconcile ran from 10:00:00.000 to 10:00:00.300; an event at 10:00:00.350 is acted on
// at 10:00:00.600. While a reconcile runs, its end is taken to be as far from its start as the last one
// took: started at 10:00:01.000 after one that took 300 ms, an event at 10:00:01.100 waits until
// 10:00:01.600. A reconcile that took longer than MaxWait (an API call timing out) holds events back by
// MaxWait only.
//
// A reconcile that found its SidecarSet quiet (no rollout in progress, nothing to write to pods) holds events
// back for at least QuietWait: a pod event can then only move the counts, which the status reports at most
// once a second anyway, and a burst of pod creations would otherwise keep the loop busy half the time while the
// webhook answers the same burst.
package pace

import (
	"sync"
	"time"
)

// MaxWait bounds the wait after one slow reconcile.
const MaxWait = 2 * time.Second

// QuietWait is the least wait after a reconcile that found its SidecarSet quiet: status.ProgressInterval, the
// least time between two writes of a status that only reports counts.
const QuietWait = time.Second

// Pacer remembers the last reconcile of each SidecarSet. The zero value is ready to use; it is safe for
// concurrent use.
type Pacer struct {
	mu sync.Mutex
	m  map[string]record
}

type record struct {
	// start and end are the last reconcile's; end is zero while it runs.
	start, end time.Time
	// took is how long the last finished reconcile took.
	took time.Duration
	// quiet says the last finished reconcile found the SidecarSet quiet.
	quiet bool
}

// Wait returns how long to hold back, at now, an event for the SidecarSet: 0 to act on it at once.
func (p *Pacer) Wait(name string, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.m[name]
	if !ok {
		return 0
	}
	took := min(r.took, MaxWait)
	if r.end.IsZero() { // running: it ends about took after it started
		return max(0, r.start.Add(2*took).Sub(now))
	}
	if r.quiet {
		took = max(took, QuietWait)
	}
	return max(0, r.end.Add(took).Sub(now))
}

// Start records that a reconcile of the SidecarSet started.
func (p *Pacer) Start(name string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]record{}
	}
	r := p.m[name]
	r.start, r.end = now, time.Time{}
	p.m[name] = r
}

// Done records that the reconcile of the SidecarSet that Start recorded ended, and whether it found the
// SidecarSet quiet.
func (p *Pacer) Done(name string, now time.Time, quiet bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.m[name]
	if !ok || !r.end.IsZero() {
		return
	}
	r.end, r.took, r.quiet = now, now.Sub(r.start), quiet
	p.m[name] = r
}

// Forget drops what is remembered of a SidecarSet, when it is deleted.
func (p *Pacer) Forget(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, name)
}
