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
			p.Done("logs", t0.Add(tt.took))
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
	p.Done("logs", t0.Add(ms(300)))
	// The doc comment's second example.
	p.Start("logs", t0.Add(time.Second))
	if got := p.Wait("logs", t0.Add(time.Second+ms(100))); got != ms(500) {
		t.Errorf("Wait = %v during a reconcile after one of 300 ms, want 500ms", got)
	}
	p.Done("logs", t0.Add(time.Second+ms(200)))
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
	p.Done("logs", t0.Add(time.Second))
	if got := p.Wait("metrics", t0.Add(time.Second)); got != 0 {
		t.Errorf("another SidecarSet waits %v for this one's reconcile", got)
	}
	p.Forget("logs")
	if got := p.Wait("logs", t0.Add(time.Second)); got != 0 {
		t.Errorf("a forgotten SidecarSet waits %v", got)
	}
	p.Done("logs", t0) // a Done without its Start changes nothing
	if got := p.Wait("logs", t0); got != 0 {
		t.Errorf("a Done without a Start made events wait %v", got)
	}
}
