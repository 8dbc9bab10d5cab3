package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/cli"
)

// Exit statuses of status -w, besides 0 (complete) and 1 (an error, or --timeout).
const (
	exitStalled = 2
	exitPaused  = 3
)

func newStatusCommand(o *options) *cobra.Command {
	var (
		out     output
		follow  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status NAME [-w]",
		Short: "Show a SidecarSet's rollout: counts, conditions, revisions; -w follows it to its end",
		Long: `Show a SidecarSet's rollout: where it stands (Complete, Progressing, Stalled or Paused, read from its
conditions as kubectl wait and Flux read them), its pod counts, its conditions and the pods on each revision.

With -w, draw the rollout live, refreshed on each change of the SidecarSet, until it ends. The exit status
says how:

  0  complete: Ready, the change landed on every pod not held back on purpose
  1  an error, or --timeout passed first
  2  stalled: Stalled, the rollout cannot go on without you (the reason says why: FailurePolicyPaused,
     ProgressDeadlineExceeded, NotUpgradable, ...; see docs/troubleshooting.md)
  3  paused: Ready with reason Paused, pods left to update while updateStrategy.paused is set or its type
     is NotUpdate`,
		Example: `  kubectl sidecarset status log-shipper
  kubectl sidecarset status log-shipper -w --timeout 10m
  kubectl sidecarset status log-shipper -o yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSidecarSets,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if follow {
				if out.format != "" {
					return errors.New("-w draws the rollout: it takes no -o")
				}
				return o.watchRollout(cmd.Context(), args[0], timeout)
			}
			set, err := o.sidecarSet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if done, err := out.structured(o.Out, cli.Report(set)); done {
				return err
			}
			return cli.WriteStatus(o.Out, set, time.Now())
		},
	}
	out.addFlag(cmd, false)
	cmd.Flags().BoolVarP(&follow, "watch", "w", false, "Draw the rollout live until it completes (exit 0), stalls (2) or is paused (3).")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "With -w, how long to wait before giving up (exit 1); 0 waits for ever.")
	return cmd
}

// watchRollout draws the rollout of the SidecarSet from a watch of it, a line per change, until its phase is
// no longer Progressing, and ends with that phase's exit status.
func (o *options) watchRollout(ctx context.Context, name string, timeout time.Duration) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	start := time.Now()
	tty := false
	if f, ok := o.Out.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	last := ""
	draw := func(set *appsv1alpha1.SidecarSet) {
		line := cli.ProgressLine(set, time.Since(start))
		if tty {
			fmt.Fprintf(o.Out, "\r\x1b[K%s", line)
			return
		}
		// Without a terminal, a line per change of the counts: not one per change of the time alone.
		if counts := cli.ProgressCounts(set); counts != last {
			fmt.Fprintln(o.Out, line)
			last = counts
		}
	}
	// The first read fails at once for a SidecarSet that does not exist, as kubectl does.
	set, err := o.sidecarSet(ctx, name)
	if err != nil {
		return err
	}
	for {
		draw(set)
		if r := cli.RolloutOf(set); r.Phase != cli.PhaseProgressing {
			if tty {
				fmt.Fprintln(o.Out)
			}
			return o.rolloutEnded(set, r)
		}
		next, err := nextChange(ctx, c, name, set.ResourceVersion)
		if err != nil {
			if tty {
				fmt.Fprintln(o.Out)
			}
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("timed out after %s waiting for the rollout of SidecarSet %s to end", timeout, name)
			}
			return err
		}
		set = next
	}
}

// nextChange watches the SidecarSet from resourceVersion and returns it at its next change. A watch the API
// server closes (they time out) is started again from where it was.
func nextChange(ctx context.Context, c client.WithWatch, name, resourceVersion string) (*appsv1alpha1.SidecarSet, error) {
	for {
		w, err := c.Watch(ctx, &appsv1alpha1.SidecarSetList{}, client.MatchingFields{"metadata.name": name},
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: resourceVersion, AllowWatchBookmarks: true}})
		if err != nil {
			return nil, err
		}
		set, rv, err := firstChange(ctx, w)
		w.Stop()
		if errors.Is(err, errExpired) {
			// Too old a resourceVersion to watch from: read the SidecarSet as it is now.
			set = &appsv1alpha1.SidecarSet{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, set); err != nil {
				return nil, err
			}
			return set, nil
		}
		if err != nil || set != nil {
			return set, err
		}
		if rv != "" {
			resourceVersion = rv
		}
	}
}

// firstChange returns the first change of the watch; nil and the last resourceVersion seen when the watch
// closed before one came.
func firstChange(ctx context.Context, w watch.Interface) (*appsv1alpha1.SidecarSet, string, error) {
	rv := ""
	for {
		select {
		case <-ctx.Done():
			return nil, rv, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, rv, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if set, ok := ev.Object.(*appsv1alpha1.SidecarSet); ok {
					return set, set.ResourceVersion, nil
				}
			case watch.Bookmark:
				if m, err := meta.Accessor(ev.Object); err == nil {
					rv = m.GetResourceVersion()
				}
			case watch.Deleted:
				return nil, rv, errors.New("the SidecarSet was deleted")
			case watch.Error:
				if st, ok := ev.Object.(*metav1.Status); ok && st.Code == http.StatusGone {
					return nil, rv, errExpired
				} else if ok {
					return nil, rv, fmt.Errorf("watching the SidecarSet: %s", st.Message)
				}
				return nil, rv, fmt.Errorf("watching the SidecarSet: %v", ev.Object)
			}
		}
	}
}

// errExpired is a watch from a resourceVersion the API server no longer has.
var errExpired = errors.New("the resourceVersion to watch from has expired")

// rolloutEnded says how the rollout ended, with its exit status.
func (o *options) rolloutEnded(set *appsv1alpha1.SidecarSet, r cli.Rollout) error {
	fmt.Fprintf(o.Out, "SidecarSet %s: %s\n", set.Name, r)
	switch r.Phase {
	case cli.PhaseStalled:
		return &exitError{code: exitStalled}
	case cli.PhasePaused:
		return &exitError{code: exitPaused}
	}
	return nil
}
