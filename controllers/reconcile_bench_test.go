package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/fixture"
	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/step"
)

// BenchmarkReconcile is a reconcile's own work, without its writes, for a SidecarSet selecting 10,000 pods
// that are all on its latest revision and ready, in a cluster of 20 nodes: gather (reading the pod cache,
// the revisions, the nodes, the budgets, the webhook configurations) and step.Decide. The pod cache is the
// operator's, filled by its informer; the other reads are a fake client's, as small as the cache's would be.
// As in the cluster, the reconcile follows pod events: 100 pods (1%) are noted by the pod event handler
// before each, and read again.
// In the local cluster the same reconcile also waits for CPU, which the cluster's own processes take (docs/benchmarks.md).
func BenchmarkReconcile(b *testing.B) { benchmarkReconcile(b) }

// BenchmarkReconcileBudgets is BenchmarkReconcile with a PodDisruptionBudget in each of the pods' 20
// namespaces, selecting the namespace's 500 pods by the label the SidecarSet selects them by, as each team's
// budget of its own application: every reconcile reads each budget's pods to count the healthy ones.
func BenchmarkReconcileBudgets(b *testing.B) {
	var budgets []client.Object
	for i := range 20 {
		budgets = append(budgets, &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%02d", i), Name: "web", Generation: 1},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromString("90%")),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
			Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 50, CurrentHealthy: 500,
				DesiredHealthy: 450, ExpectedPods: 500},
		})
	}
	benchmarkReconcile(b, budgets...)
}

func benchmarkReconcile(b *testing.B, extra ...client.Object) {
	const n = 10_000
	ctx := context.Background()
	c, set := reconcileWorld(b, n, extra...)
	pods := startPodCache(b, c)
	r := &SidecarSetReconciler{Client: c, Pods: pods, Namespace: "sidecarset-system"}
	// The first reconcile stores the revision and the status, as in the cluster.
	if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "logs"}}); err != nil {
		b.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
		b.Fatal(err)
	}
	if set.Status.UpdatedPods != n || set.Status.ReadyPods != n {
		b.Fatalf("status %+v: the pods are not what the benchmark means them to be", set.Status)
	}
	views, err := pods.List(labels.Everything())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		for range 100 {
			v := views[i%len(views)]
			r.notePod(set.Name, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: v.Namespace, Name: v.Name}})
			i += 97
		}
		in, err := r.gather(ctx, set)
		if err != nil {
			b.Fatal(err)
		}
		if d := step.Decide(in); d.Write || len(d.Updates) > 0 {
			b.Fatalf("a reconcile of a SidecarSet in step writes %d pods, status %v", len(d.Updates), d.Write)
		}
		r.decided(set.Name, in)
	}
}

// BenchmarkGatherWriting is gathering the 10,000 pods of BenchmarkReconcile while 1,000 writes to them stand
// that the pod cache does not show yet (a step of a rollout at maxUnavailable 10%): each pod is asked for
// its write in flight.
func BenchmarkGatherWriting(b *testing.B) {
	const n = 10_000
	ctx := context.Background()
	c, set := reconcileWorld(b, n)
	r := &SidecarSetReconciler{Client: c, Pods: startPodCache(b, c), Namespace: "sidecarset-system"}
	views, err := r.Pods.List(labels.Everything())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for _, v := range views[:n/10] {
		r.writes.Record(set.Name, v.Namespace, v.Name, v.ResourceVersion, inplace.Change{}, now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		in, err := r.gather(ctx, set)
		if err != nil {
			b.Fatal(err)
		}
		written := 0
		for _, p := range in.Pods {
			if p.Written != nil {
				written++
			}
		}
		if written != n/10 {
			b.Fatalf("%d pods with a write in flight, want %d", written, n/10)
		}
		r.decided(set.Name, in)
	}
}

// reconcileWorld is the API of BenchmarkReconcile: a fake client holding a SidecarSet "logs" that selects n
// pods, all on its latest revision and ready, on 20 nodes, and the extra objects.
func reconcileWorld(tb testing.TB, n int, extra ...client.Object) (client.WithWatch, *appsv1alpha1.SidecarSet) {
	tb.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = appsv1alpha1.AddToScheme(scheme)
	set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "logs", UID: "logs-uid", Generation: 1},
		Spec: *fixture.Spec(tb, `{selector: {matchLabels: {app: web}}, containers: [{name: shipper, image: shipper:2}]}`)}
	target := revision.For(set)
	state := podstate.State{"logs": {Revision: target, Images: map[string]string{"shipper": "shipper:2"}}}.Encode()
	objs := []client.Object{set}
	for i := range 20 {
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i),
			Labels: map[string]string{corev1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%3)}}})
	}
	ready := metav1.NewTime(time.Now().Add(-time.Hour))
	for i := range n {
		name := fmt.Sprintf("web-%05d", i)
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%02d", i%20), Name: name,
				Labels:          map[string]string{"app": "web", "pod-template-hash": "5d8c7f"},
				Annotations:     map[string]string{appsv1alpha1.StateAnnotation: state},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8c7f", UID: "rs", Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%20),
				Containers: []corev1.Container{{Name: "shipper", Image: "shipper:2"}, {Name: "app", Image: "web:1"}}},
			Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: ready}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "shipper", Image: "shipper:2", ContainerID: "c://" + name + "-s", Ready: true},
					{Name: "app", Image: "web:1", ContainerID: "c://" + name + "-a", Ready: true},
				},
			},
		})
	}
	objs = append(objs, extra...)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&appsv1alpha1.SidecarSet{}).
		WithIndex(&appsv1.ControllerRevision{}, revisionsBySidecarSet, func(o client.Object) []string {
			return []string{o.GetLabels()[appsv1alpha1.SidecarSetNameLabel]}
		}).Build()
	return c, set
}

// startPodCache starts a pod cache over c, for the test's lifetime, and waits until it has synced.
func startPodCache(tb testing.TB, c client.WithWatch) *PodCache {
	tb.Helper()
	pods := newPodCache(listThenWatch{podListWatch(c)})
	ctx, stop := context.WithCancel(context.Background())
	tb.Cleanup(stop)
	go func() { _ = pods.Start(ctx) }()
	for deadline := time.Now().Add(time.Minute); !pods.HasSynced(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("the pod cache did not sync in a minute")
		}
	}
	return pods
}

// listThenWatch tells the informer to list, then watch: the fake client answers no streaming list.
type listThenWatch struct{ *toolscache.ListWatch }

func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }
