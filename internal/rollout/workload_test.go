package rollout

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// fleet builds one Deployment per replica count, Deployment/w<k> with pods w<k>-<i>, with opts applied to
// every pod.
func fleet(replicas []int, opts ...podOption) []Pod {
	var out []Pod
	for k, n := range replicas {
		for i := range n {
			p := pod(fmt.Sprintf("w%d-%02d", k, i), opts...)
			p.Workload = fmt.Sprintf("Deployment/w%d", k)
			out = append(out, p)
		}
	}
	return out
}

func inWorkload(w string) podOption { return func(p *Pod) { p.Workload = w } }

func TestPerWorkloadLimit(t *testing.T) {
	statefulSet := func(opts ...podOption) []Pod {
		return []Pod{pod("x-00", append(opts, inWorkload("StatefulSet/x"))...), pod("x-01", inWorkload("StatefulSet/x")),
			pod("x-02", inWorkload("StatefulSet/x"))}
	}
	tests := []struct {
		name     string
		strategy string
		pods     []Pod
		want     string // names of the pods to update, in order ("" when only counted)
		updates  int
		held     int
		full     string
	}{
		{"workloads of 1, 2, 3 and 50 pods, default 25%: one pod of each small one, 13 of the 50",
			`{maxUnavailable: 100%}`, fleet([]int{1, 2, 3, 50}), "", 16, 40, "ns/Deployment/w1,ns/Deployment/w2,ns/Deployment/w3"},
		{"the fleet budget binds first, spread over the workloads", `{maxUnavailable: 4}`, fleet([]int{3, 3, 3, 3}),
			"w0-00,w1-00,w2-00,w3-00", 4, 0, ""},
		{"ten Deployments of 3 under maxUnavailable 50%: one pod each", `{maxUnavailable: 50%}`, fleet([]int{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}),
			"", 10, 20, ""},
		{"a pod already unavailable uses its workload's limit", `{maxUnavailable: 10}`, append(fleet([]int{3}), statefulSet(unready())...),
			"x-00,w0-00", 2, 4, "ns/Deployment/w0,ns/StatefulSet/x"},
		{"a pod being updated uses its workload's limit", `{maxUnavailable: 10}`, append(fleet([]int{3}), statefulSet(updating())...),
			"w0-00", 1, 4, "ns/Deployment/w0,ns/StatefulSet/x"},
		{"an integer limit", `{maxUnavailable: 10, maxUnavailablePerWorkload: 2}`, fleet([]int{3}), "w0-00,w0-01", 2, 1, "ns/Deployment/w0"},
		{"100% lifts it", `{maxUnavailable: 10, maxUnavailablePerWorkload: 100%}`, fleet([]int{3}), "w0-00,w0-01,w0-02", 3, 0, ""},
		{"pods without a controller are each a workload of their own", `{maxUnavailable: 3}`, pods("bare", 3), "bare-00,bare-01,bare-02", 3, 0, ""},
		{"the same name in two namespaces is two workloads", `{maxUnavailable: 10}`,
			[]Pod{pod("a", inWorkload("Deployment/web")), pod("b", inWorkload("Deployment/web"), inNamespace("other"))}, "a,b", 2, 0, ""},
		{"a workload with every pod unavailable is updated for free", `{maxUnavailable: 1}`, fleet([]int{3}, unready()),
			"w0-00,w0-01,w0-02", 3, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := strategy(t, tt.strategy)
			p, err := Compute(s, tt.pods, now)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && names(p.Update) != tt.want {
				t.Errorf("update %s, want %s", names(p.Update), tt.want)
			}
			if len(p.Update) != tt.updates || p.HeldByWorkload != tt.held {
				t.Errorf("%d updates and %d held by workload, want %d and %d", len(p.Update), p.HeldByWorkload, tt.updates, tt.held)
			}
			if tt.full != "" || tt.held == 0 {
				if got := strings.Join(p.FullWorkloads, ","); got != tt.full {
					t.Errorf("full workloads %s, want %s", got, tt.full)
				}
			}
			assertWorkloadLimits(t, s, tt.pods, p, now)
		})
	}
}

func TestWorkloadsAreInterleaved(t *testing.T) {
	p, err := Compute(strategy(t, `{maxUnavailable: 4, maxUnavailablePerWorkload: 100%}`), fleet([]int{3, 4}), now)
	if err != nil {
		t.Fatal(err)
	}
	// w0's pods rank 1/6, 3/6, 5/6 and w1's 1/8, 3/8, 5/8, 7/8: the two alternate instead of w0 coming whole.
	if got := names(p.Update); got != "w1-00,w0-00,w1-01,w0-01" {
		t.Errorf("update %s", got)
	}
}

// assertWorkloadLimits checks that updating the plan's pods leaves no workload with more unavailable pods
// than the more of its limit and the pods it had unavailable before.
func assertWorkloadLimits(t *testing.T, s *appsv1alpha1.UpdateStrategy, pods []Pod, p Plan, clock time.Time) {
	t.Helper()
	updated := map[string]bool{}
	for _, d := range p.Update {
		updated[d.Namespace+"/"+d.Name] = true
	}
	type count struct{ pods, before, after int }
	counts := map[string]*count{}
	minReady := time.Duration(s.MinReadySeconds) * time.Second
	for i := range pods {
		pod := &pods[i]
		key := pod.Namespace + "/" + pod.Workload
		if pod.Workload == "" {
			key = pod.Namespace + "/Pod/" + pod.Name
		}
		c := counts[key]
		if c == nil {
			c = &count{}
			counts[key] = c
		}
		c.pods++
		switch {
		case !pod.available(minReady, clock):
			c.before++
			c.after++
		case updated[pod.Namespace+"/"+pod.Name]:
			c.after++
		}
	}
	for w, c := range counts {
		limit, err := MaxUnavailablePerWorkload(s.MaxUnavailablePerWorkload, c.pods)
		if err != nil {
			t.Fatal(err)
		}
		if c.after > max(limit, c.before) {
			t.Errorf("%s: %d of %d pods unavailable after the step, limit %d, %d before", w, c.after, c.pods, limit, c.before)
		}
	}
}

func inZone(z string) podOption { return func(p *Pod) { p.Zone = z } }

func TestZonesAreSpread(t *testing.T) {
	zoned := []Pod{pod("a1", inZone("a")), pod("a2", inZone("a")), pod("a3", inZone("a")),
		pod("b1", inZone("b")), pod("b2", inZone("b")), pod("b3", inZone("b"))}
	tests := []struct {
		name     string
		strategy string
		pods     []Pod
		want     string
	}{
		{"bare pods: the zones alternate", `{maxUnavailable: 4}`, zoned, "a1,b1,a2,b2"},
		{"a scatterStrategy replaces the zones", `{maxUnavailable: 2, scatterStrategy: [{key: app, value: x}]}`, zoned, "a1,a2"},
		{"no zone known: name order", `{maxUnavailable: 2}`, pods("p", 4), "p-00,p-01"},
		{"workloads first, zones among the pods of equal rank", `{maxUnavailable: 4, maxUnavailablePerWorkload: 100%}`,
			func() []Pod {
				ps := fleet([]int{2, 2})
				for i, z := range []string{"a", "a", "a", "b"} {
					ps[i].Zone = z
				}
				return ps
			}(), "w0-00,w1-01,w0-01,w1-00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compute(strategy(t, tt.strategy), tt.pods, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(p.Update); got != tt.want {
				t.Errorf("update %s, want %s", got, tt.want)
			}
		})
	}
}
