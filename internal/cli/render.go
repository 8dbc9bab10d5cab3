package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DriftTable is the drifted pods as a table; wide adds each pod's workload and the detail of its cause.
func DriftTable(pods []PodDrift, wide bool) Table {
	t := Table{Header: []string{"NAMESPACE", "NAME", "CAUSE", "REVISION", "IMAGES"}}
	if wide {
		t.Header = append(t.Header, "WORKLOAD", "DETAIL")
	}
	for _, p := range pods {
		row := []string{p.Namespace, p.Name, string(p.Cause), p.Revision, strings.Join(p.Images, ",")}
		if wide {
			row = append(row, p.Workload, p.Detail)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// DriftSummary says how many of the matched pods drifted, by cause, in the order of Causes.
func DriftSummary(r DriftReport) string {
	counts := map[Cause]int{}
	for _, p := range r.Pods {
		counts[p.Cause]++
	}
	var parts []string
	for _, c := range Causes {
		if n := counts[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, c))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("All %d matched pods of SidecarSet %s run revision %s.", r.Matched, r.SidecarSet, r.LatestRevision)
	}
	return fmt.Sprintf("%d of %d matched pods of SidecarSet %s do not run revision %s: %s.",
		len(r.Pods), r.Matched, r.SidecarSet, r.LatestRevision, strings.Join(parts, ", "))
}

// WriteExplanation prints what each SidecarSet did to the pod, one block per SidecarSet.
func WriteExplanation(w io.Writer, e Explanation) error {
	of := ""
	if e.Workload != "" {
		of = ", of " + e.Workload
	}
	head := fmt.Sprintf("Pod %s/%s%s, created %s", e.Namespace, e.Pod, of, e.Created)
	switch len(e.Verdicts) {
	case 0:
		_, err := fmt.Fprintf(w, "%s: no SidecarSet selects it, and none injected it.\n", head)
		return err
	case 1:
		head += ": 1 SidecarSet concerns it."
	default:
		head += fmt.Sprintf(": %d SidecarSets concern it.", len(e.Verdicts))
	}
	if _, err := fmt.Fprintln(w, head); err != nil {
		return err
	}
	for _, v := range e.Verdicts {
		verdict := "not injected"
		if v.Injected {
			verdict = "injected"
		}
		if !v.Selected {
			verdict += ", not selected"
		}
		lines := [][2]string{{"Why", v.Why}}
		if v.Revision != "" {
			rev := v.Revision
			if v.Revision == v.LatestRevision {
				rev += " (latest)"
			} else {
				rev += " (latest: " + v.LatestRevision + ")"
			}
			lines = append(lines, [2]string{"Revision", rev})
		}
		if len(v.Images) > 0 {
			lines = append(lines, [2]string{"Images", strings.Join(v.Images, ", ")})
		}
		if v.Selected {
			drift := "none: runs the latest revision"
			switch {
			case v.Drift == CauseMissingSidecar:
				drift = string(v.Drift) + ": the pod has none of its sidecars"
			case v.Drift != "":
				drift = fmt.Sprintf("%s: %s", v.Drift, v.DriftDetail)
			}
			lines = append(lines, [2]string{"Drift", drift})
		}
		if _, err := fmt.Fprintf(w, "\nSidecarSet %s: %s\n", v.SidecarSet, verdict); err != nil {
			return err
		}
		for _, l := range lines {
			if _, err := fmt.Fprintf(w, "  %-10s%s\n", l[0]+":", l[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteMatch prints which existing pods a SidecarSet would select and what it would inject into one.
func WriteMatch(w io.Writer, r MatchReport) error {
	if _, err := fmt.Fprintf(w, "SidecarSet %s (revision %s) would select %s.\n", r.SidecarSet, r.Revision, plural(r.Selected, "existing pod")); err != nil {
		return err
	}
	if len(r.Workloads) > 0 {
		t := Table{Header: []string{"NAMESPACE", "WORKLOAD", "PODS"}}
		for _, wl := range r.Workloads {
			t.Rows = append(t.Rows, []string{wl.Namespace, wl.Workload, strconv.Itoa(wl.Pods)})
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
		if err := t.Write(w); err != nil {
			return err
		}
	}
	if len(r.Excluded) > 0 {
		n := 0
		t := Table{Header: []string{"NAMESPACE", "WORKLOAD", "PODS", "WHY"}}
		for _, wl := range r.Excluded {
			n += wl.Pods
			t.Rows = append(t.Rows, []string{wl.Namespace, wl.Workload, strconv.Itoa(wl.Pods), wl.Why})
		}
		if _, err := fmt.Fprintf(w, "\nLeft out: %s its selector matches.\n", plural(n, "pod")); err != nil {
			return err
		}
		if err := t.Write(w); err != nil {
			return err
		}
	}
	if d := r.DryRun; d != nil {
		if _, err := fmt.Fprintf(w, "\nInjected into a pod like %s, were it created now (dry run, nothing written):\n", d.Pod); err != nil {
			return err
		}
		var lines [][2]string
		if d.Skipped != "" {
			lines = append(lines, [2]string{"Skipped", d.Skipped})
		}
		sidecars := make([]string, len(d.Sidecars))
		for i, s := range d.Sidecars {
			sidecars[i] = fmt.Sprintf("%s (%s, %s)", s.Name, s.Kind, s.Image)
		}
		lines = append(lines,
			[2]string{"Sidecars", orNone(strings.Join(sidecars, ", "))},
			[2]string{"Containers", orNone(strings.Join(d.Containers, ", "))},
			[2]string{"Init containers", orNone(strings.Join(d.InitContainers, ", "))},
			[2]string{"Also added", orNone(strings.Join(d.Added, ", "))})
		for _, c := range d.Conflicts {
			lines = append(lines, [2]string{"Conflict", c})
		}
		for _, wn := range d.Warnings {
			lines = append(lines, [2]string{"Warning", wn})
		}
		for _, l := range lines {
			if _, err := fmt.Fprintf(w, "  %-17s%s\n", l[0]+":", l[1]); err != nil {
				return err
			}
		}
	}
	_, err := fmt.Fprintln(w, "\nRunning pods get nothing: sidecars are injected when a pod is created.")
	return err
}

// plural is "1 pod", "2 pods".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
