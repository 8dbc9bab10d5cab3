package step

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	fx "github.com/sidecarset/sidecarset-operator/internal/fixture" // renamed: fixture is this package's fixture type
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// spec is the SidecarSet spec of the manifest, and view the pod as the pod cache keeps it, with the given
// state annotation (none when state is nil).
var (
	spec = fx.Spec
	view = fx.View
)

// fixture is a SidecarSet "logs" injecting one sidecar, shipper, at shipper:2 (its latest revision), with the
// revision before it, shipper:1, stored too.
type fixture struct {
	set              *appsv1alpha1.SidecarSet
	stored           []revision.Stored
	latest, previous string
}

func newFixture(t testing.TB, strategy string) *fixture {
	t.Helper()
	const base = `{selector: {matchLabels: {app: web}}, containers: [{name: shipper, image: %s}], updateStrategy: %s}`
	return fixtureOf(t, fmt.Sprintf(base, "shipper:1", strategy), fmt.Sprintf(base, "shipper:2", strategy))
}

// fixtureOf is a SidecarSet "logs" whose latest spec is the manifest latest, with previous's revision stored
// before it.
func fixtureOf(t testing.TB, previous, latest string) *fixture {
	t.Helper()
	old := spec(t, previous)
	set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "logs", Generation: 2, UID: "logs-uid"},
		Spec: *spec(t, latest)}
	f := &fixture{set: set, previous: revision.Name("logs", revision.Hash(revision.InjectedOf(old), nil)), latest: revision.For(set)}
	f.stored = []revision.Stored{
		{Name: f.previous, Number: 1, Injected: revision.InjectedOf(old)},
		{Name: f.latest, Number: 2, Injected: revision.InjectedOf(&set.Spec)},
	}
	return f
}

func (f *fixture) input(pods ...Pod) Input {
	return Input{SidecarSet: f.set, Stored: f.stored, Pods: pods, Now: now}
}

// readyPod is a pod of Deployment web, ready for an hour, running shipper at the given revision's image.
func (f *fixture) readyPod(t testing.TB, name, rev string) *podview.View {
	t.Helper()
	image := "shipper:1"
	if rev == f.latest {
		image = "shipper:2"
	}
	return view(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, ResourceVersion: "100", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: image}, {Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "shipper", Image: image, ContainerID: "c://" + name + "-shipper", Ready: true},
				{Name: "app", Image: "app:1", ContainerID: "c://" + name + "-app", Ready: true},
			},
		},
	}, podstate.State{"logs": {Revision: rev, Images: map[string]string{"shipper": image}}})
}
