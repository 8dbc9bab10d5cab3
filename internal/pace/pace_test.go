package pace

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestWaitAfterAReconcile(t *testing.T) {
	tests := []struct {
		name       string
		took       time.Duration
		eventAfter time.Duration // after the reconcile ended
		want       time.Duration
	}{
		{name: "the doc comment's example: 300 ms reconcile, event 50 ms after it", took: ms(300), eventAfter: ms(50), want: ms(250)},
		{name: "event once as long as the reconcile took has passed", took: ms(300), eventAfter: ms(300), want: 0},
		{name: "a cheap reconcile holds events back little", took: ms(4), eventAfter: ms(1), want: ms(3)},
		{name: "a reconcile slower than MaxWait holds events back by MaxWait", took: 30 * time.Second, want: MaxWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Pacer
			p.Start("logs", t0)
			p.Done("logs", t0.Add(tt.took), false)
			if got := p.Wait("logs", t0.Add(tt.took+tt.eventAfter)); got != tt.want {
				t.Errorf("Wait = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWaitWhileAReconcileRuns(t *testing.T) {
	var p Pacer
	p.Start("logs", t0)
	if got := p.Wait("logs", t0.Add(ms(10))); got != 0 {
		t.Errorf("during a first reconcile, with nothing to go by, an event waits %v", got)
	}
	p.Done("logs", t0.Add(ms(300)), false)
	// The doc comment's second example.
	p.Start("logs", t0.Add(time.Second))
	if got := p.Wait("logs", t0.Add(time.Second+ms(100))); got != ms(500) {
		t.Errorf("Wait = %v during a reconcile after one of 300 ms, want 500ms", got)
	}
	p.Done("logs", t0.Add(time.Second+ms(200)), false)
	if got := p.Wait("logs", t0.Add(time.Second+ms(200))); got != ms(200) {
		t.Errorf("Wait = %v right after a reconcile of 200 ms, want 200ms", got)
	}
}

func TestWaitIsPerSidecarSetAndForgotten(t *testing.T) {
	var p Pacer
	if got := p.Wait("logs", t0); got != 0 {
		t.Fatalf("a SidecarSet never reconciled waits %v", got)
	}
	p.Start("logs", t0)
	p.Done("logs", t0.Add(time.Second), false)
	if got := p.Wait("metrics", t0.Add(time.Second)); got != 0 {
		t.Errorf("another SidecarSet waits %v for this one's reconcile", got)
	}
	p.Forget("logs")
	if got := p.Wait("logs", t0.Add(time.Second)); got != 0 {
		t.Errorf("a forgotten SidecarSet waits %v", got)
	}
	p.Done("logs", t0, false) // a Done without its Start changes nothing
	if got := p.Wait("logs", t0); got != 0 {
		t.Errorf("a Done without a Start made events wait %v", got)
	}
}

func TestWaitAfterAQuietReconcile(t *testing.T) {
	var p Pacer
	p.Start("logs", t0)
	p.Done("logs", t0.Add(ms(20)), true)
	if got := p.Wait("logs", t0.Add(ms(120))); got != QuietWait-ms(100) {
		t.Errorf("Wait = %v 100 ms after a quiet reconcile, want %v", got, QuietWait-ms(100))
	}
	// A rollout starts: the next reconcile is not quiet, and events wait as long as it took again.
	p.Start("logs", t0.Add(2*time.Second))
	p.Done("logs", t0.Add(2*time.Second+ms(20)), false)
	if got := p.Wait("logs", t0.Add(2*time.Second+ms(30))); got != ms(10) {
		t.Errorf("Wait = %v after a reconcile of a rollout, want 10ms", got)
	}
	// A quiet reconcile slower than QuietWait holds events back as long as it took.
	p.Start("logs", t0.Add(3*time.Second))
	p.Done("logs", t0.Add(3*time.Second+ms(1500)), true)
	if got := p.Wait("logs", t0.Add(3*time.Second+ms(1500))); got != ms(1500) {
		t.Errorf("Wait = %v after a quiet reconcile of 1.5 s, want 1.5s", got)
	}
}
