package status

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/fixture"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// sizedPod is the view of a pod whose state annotation is state (none when "") and whose spec is spec.
func sizedPod(t testing.TB, state, spec string) *podview.View {
	t.Helper()
	manifest := "metadata: {name: p, namespace: ns}\nspec:\n" + indent(spec)
	if state != "" {
		manifest = fmt.Sprintf("metadata: {name: p, namespace: ns, annotations: {sidecarset.io/state: '%s'}}\nspec:\n%s", state, indent(spec))
	}
	return fixture.View(t, fixture.Pod(t, manifest), nil)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ")
}

// The state entries of the pods below: logs injected shipper (and, in some pods, the classic init container
// setup); mesh injected proxy.
const (
	logsState     = `{"logs":{"revision":"logs-1","images":{"shipper":"shipper:1"}}}`
	logsAndMesh   = `{"logs":{"revision":"logs-1","images":{"shipper":"shipper:1"}},"mesh":{"revision":"mesh-1","images":{"proxy":"proxy:1"}}}`
	logsWithSetup = `{"logs":{"revision":"logs-1","images":{"shipper":"shipper:1","setup":"setup:1"}}}`
)

const appAndShipper = `
containers:
- {name: app, image: app, resources: {requests: {cpu: 400m, memory: 256Mi}, limits: {memory: 512Mi}}}
- {name: shipper, image: shipper:1, resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}}`

func TestPodCostOf(t *testing.T) {
	tests := []struct {
		name string
		set  string
		pods [][2]string // state, spec
		want Cost
	}{
		{name: "a sidecar and an app container: the sidecar's requests and limits, the pod's requests", set: "logs",
			pods: [][2]string{{logsState, appAndShipper}},
			want: Cost{Pods: 1, Sidecars: podview.Amounts{RequestMilliCPU: 100, RequestMemory: 64 << 20, LimitMemory: 128 << 20},
				PodRequestMilliCPU: 500, PodRequestMemory: 320 << 20}},
		{name: "summed over the pods", set: "logs",
			pods: [][2]string{{logsState, appAndShipper}, {logsState, appAndShipper}, {logsState, appAndShipper}},
			want: Cost{Pods: 3, Sidecars: podview.Amounts{RequestMilliCPU: 300, RequestMemory: 192 << 20, LimitMemory: 384 << 20},
				PodRequestMilliCPU: 1500, PodRequestMemory: 960 << 20}},
		{name: "a native sidecar counts; classic init containers, the app's and the SidecarSet's, have exited", set: "logs",
			pods: [][2]string{{`{"logs":{"revision":"logs-1","images":{"shipper":"shipper:1","setup":"setup:1"}}}`, `
initContainers:
- {name: shipper, image: shipper:1, restartPolicy: Always, resources: {requests: {cpu: 50m, memory: 32Mi}}}
- {name: migrate, image: app, resources: {requests: {cpu: "2", memory: 1Gi}}}
- {name: setup, image: setup:1, resources: {requests: {cpu: "1", memory: 1Gi}}}
containers:
- {name: app, image: app, resources: {requests: {cpu: 450m, memory: 96Mi}}}`}},
			want: Cost{Pods: 1, Sidecars: podview.Amounts{RequestMilliCPU: 50, RequestMemory: 32 << 20},
				PodRequestMilliCPU: 500, PodRequestMemory: 128 << 20}},
		{name: "a limit without a request requests the limit", set: "logs",
			pods: [][2]string{{logsState, `
containers:
- {name: app, image: app, resources: {limits: {cpu: 800m, memory: 1Gi}}}
- {name: shipper, image: shipper:1, resources: {limits: {cpu: 200m}}}`}},
			want: Cost{Pods: 1, Sidecars: podview.Amounts{RequestMilliCPU: 200, LimitMilliCPU: 200},
				PodRequestMilliCPU: 1000, PodRequestMemory: 1 << 30}},
		{name: "sidecars without resources: the pod counts, at no cost", set: "logs",
			pods: [][2]string{{logsState, `
containers:
- {name: app, image: app, resources: {requests: {cpu: 400m}}}
- {name: shipper, image: shipper:1}`}},
			want: Cost{Pods: 1, PodRequestMilliCPU: 400}},
		{name: "a pod carrying only a classic init container of the SidecarSet counts, at no cost", set: "logs",
			pods: [][2]string{{`{"logs":{"revision":"logs-1","images":{"setup":"setup:1"}}}`, `
initContainers: [{name: setup, image: setup:1, resources: {requests: {cpu: "1"}}}]
containers: [{name: app, image: app, resources: {requests: {cpu: 400m}}}]`}},
			want: Cost{Pods: 1, PodRequestMilliCPU: 400}},
		{name: "pods that never got the sidecars, or whose sidecars were skipped, add nothing", set: "logs",
			pods: [][2]string{
				{"", appAndShipper},
				{`{}`, appAndShipper},
				{`{"mesh":{"revision":"mesh-1","images":{"proxy":"proxy:1"}}}`, appAndShipper},
				{`{"logs":{"revision":"logs-1","skipped":"privileged containers are not allowed"}}`, appAndShipper},
			}},
		{name: "a sidecar left out for a name conflict is not counted: the container of that name is the app's", set: "logs",
			pods: [][2]string{
				{`{"logs":{"revision":"logs-1","images":{"agent":"agent:1"},"conflicts":["shipper"]}}`, appAndShipper + `
- {name: agent, image: agent:1, resources: {requests: {cpu: 10m}}}`},
				{`{"logs":{"revision":"logs-1","conflicts":["shipper"]}}`, appAndShipper},
			},
			want: Cost{Pods: 1, Sidecars: podview.Amounts{RequestMilliCPU: 10}, PodRequestMilliCPU: 510, PodRequestMemory: 320 << 20}},
		{name: "two SidecarSets on one pod: logs counts its shipper, the proxy is one of the pod's containers", set: "logs",
			pods: [][2]string{{logsAndMesh, appAndShipper + `
- {name: proxy, image: proxy:1, resources: {requests: {cpu: 250m, memory: 64Mi}, limits: {cpu: 500m}}}`}},
			want: Cost{Pods: 1, Sidecars: podview.Amounts{RequestMilliCPU: 100, RequestMemory: 64 << 20, LimitMemory: 128 << 20},
				PodRequestMilliCPU: 750, PodRequestMemory: 384 << 20}},
		{name: "two SidecarSets on one pod: mesh counts its proxy", set: "mesh",
			pods: [][2]string{{logsAndMesh, appAndShipper + `
- {name: proxy, image: proxy:1, resources: {requests: {cpu: 250m, memory: 64Mi}, limits: {cpu: 500m}}}`}},
			want: Cost{Pods: 1, Sidecars: podview.Amounts{RequestMilliCPU: 250, RequestMemory: 64 << 20, LimitMilliCPU: 500},
				PodRequestMilliCPU: 750, PodRequestMemory: 384 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pods []*podview.View
			for _, p := range tt.pods {
				pods = append(pods, sizedPod(t, p[0], p[1]))
			}
			if got := sidecarCost(tt.set, pods); got != tt.want {
				t.Errorf("the cost of %s =\n%+v\nwant\n%+v", tt.set, got, tt.want)
			}
		})
	}
}

func TestSidecarCostStatus(t *testing.T) {
	tests := []struct {
		name string
		cost Cost
		want string // the status field as YAML, "" for none
	}{
		{name: "no pod carries a sidecar: no field", cost: Cost{}, want: ""},
		{name: "25 pods of the sample: CPU and binary memory as written, one decimal of share",
			cost: Cost{Pods: 25, Sidecars: podview.Amounts{RequestMilliCPU: 2500, RequestMemory: 1600 << 20, LimitMemory: 3200 << 20},
				PodRequestMilliCPU: 22500, PodRequestMemory: 14400 << 20},
			want: `
pods: 25
requests: {cpu: 2500m, memory: 1600Mi}
limits: {memory: 3200Mi}
podRequests: {cpu: "22500m", memory: 14400Mi}
requestShare: {cpu: 11.1%, memory: 11.1%}`},
		{name: "whole cores, decimal memory, halves up",
			cost: Cost{Pods: 2, Sidecars: podview.Amounts{RequestMilliCPU: 2000, RequestMemory: 200_000_000, LimitMilliCPU: 4000},
				PodRequestMilliCPU: 4000, PodRequestMemory: 4_000_000_000_000},
			want: `
pods: 2
requests: {cpu: "2", memory: 200M}
limits: {cpu: "4"}
podRequests: {cpu: "4", memory: 4T}
requestShare: {cpu: 50.0%, memory: 0.0%}`},
		{name: "sidecars that request nothing of pods that request nothing: no share",
			cost: Cost{Pods: 1},
			want: `
pods: 1
requests: {cpu: "0", memory: "0"}
podRequests: {cpu: "0", memory: "0"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cost.status()
			var want *appsv1alpha1.SidecarResources
			if tt.want != "" {
				want = fixture.Decode[appsv1alpha1.SidecarResources](t, tt.want)
			}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("status:\n%s\nwant:\n%s", toYAML(t, got), tt.want)
			}
			if got != nil {
				// The quantities print as a user wrote them: kubectl shows these strings.
				if out := toYAML(t, got); out != toYAML(t, want) {
					t.Errorf("printed:\n%s\nwant:\n%s", out, toYAML(t, want))
				}
			}
		})
	}
}

func TestComputeReportsTheSidecarsCost(t *testing.T) {
	in := input(t, `{}`, podsOf(2, "p"), nil)
	in.Cost = sidecarCost("logs", []*podview.View{sizedPod(t, logsState, appAndShipper), sizedPod(t, logsState, appAndShipper)})
	st := Compute(&appsv1alpha1.SidecarSetStatus{}, in, nowMeta)
	want := fixture.Decode[appsv1alpha1.SidecarResources](t, `
pods: 2
requests: {cpu: 200m, memory: 128Mi}
limits: {memory: 256Mi}
podRequests: {cpu: "1", memory: 640Mi}
requestShare: {cpu: 20.0%, memory: 20.0%}`)
	if !equality.Semantic.DeepEqual(st.SidecarResources, want) {
		t.Errorf("sidecarResources:\n%s\nwant:\n%s", toYAML(t, st.SidecarResources), toYAML(t, want))
	}

	// The status as the API server returns it equals the one computed: a reconcile that finds nothing
	// changed writes nothing.
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var stored appsv1alpha1.SidecarSetStatus
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	if again := Compute(&stored, in, nowMeta); !equality.Semantic.DeepEqual(again, stored) {
		t.Errorf("the stored status differs from the one computed again:\n%s\n%s", toYAML(t, stored), toYAML(t, again))
	}

	in.Cost = Cost{}
	if st := Compute(&stored, in, nowMeta); st.SidecarResources != nil {
		t.Errorf("pods without sidecars report %+v", st.SidecarResources)
	}
}

func TestPercent(t *testing.T) {
	for _, tt := range []struct {
		part, whole int64
		want        string
	}{
		{2500, 22500, "11.1%"}, {1, 800, "0.1%"}, {1, 2000, "0.1%"}, {1, 2001, "0.0%"}, {0, 4000, "0.0%"},
		{64 << 20, 64 << 20, "100.0%"}, {1, 3, "33.3%"}, {2, 3, "66.7%"}, {5, 0, ""},
		// A petabyte of memory, in bytes: float64 still tells tenths of a percent apart.
		{1 << 50, 3 << 50, "33.3%"},
	} {
		if got := percent(tt.part, tt.whole); got != tt.want {
			t.Errorf("percent(%d, %d) = %q, want %q", tt.part, tt.whole, got, tt.want)
		}
	}
}

func toYAML(t *testing.T, v any) string {
	t.Helper()
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// BenchmarkPodCostOf sums the cost of a SidecarSet over 10,000 matched pods, as a reconcile with no memo does:
// an app container, the SidecarSet's sidecar and native sidecar, and another SidecarSet's sidecar per pod.
func BenchmarkPodCostOf(b *testing.B) {
	spec := `
initContainers:
- {name: proxy, image: proxy:1, restartPolicy: Always, resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 64Mi}}}
containers:
- {name: app, image: app, resources: {requests: {cpu: 400m, memory: 256Mi}, limits: {memory: 512Mi}}}
- {name: shipper, image: shipper:1, resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}}
- {name: agent, image: agent:1, resources: {requests: {cpu: 20m, memory: 16Mi}}}`
	state := `{"logs":{"revision":"logs-1","images":{"shipper":"shipper:1","proxy":"proxy:1"}},"metrics":{"revision":"metrics-1","images":{"agent":"agent:1"}}}`
	pods := make([]*podview.View, 10_000)
	for i := range pods {
		pods[i] = sizedPod(b, state, spec)
	}
	if c := sidecarCost("logs", pods); c.Pods != 10_000 || c.Sidecars.RequestMilliCPU != 1_500_000 {
		b.Fatalf("cost %+v: the pods are not what the benchmark means them to be", c)
	}
	b.ReportAllocs()
	for b.Loop() {
		sidecarCost("logs", pods)
	}
}

// sidecarCost sums PodCostOf over the pods, as a reconcile sums it over the tracked matched pods.
func sidecarCost(setName string, pods []*podview.View) Cost {
	var c Cost
	for _, pod := range pods {
		st, carried := pod.State()[setName]
		c.Add(PodCostOf(st, carried, pod))
	}
	return c
}
