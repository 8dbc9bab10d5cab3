package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// cachedReader stands in for the informer cache: it hands out the SidecarSets it holds without copying them,
// as the cache does for a List with UnsafeDisableDeepCopy.
type cachedReader struct {
	sets []appsv1alpha1.SidecarSet
}

func (r *cachedReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	obj.SetName(key.Name)
	obj.SetLabels(map[string]string{"environment": "production"})
	return nil
}

func (r *cachedReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	list.(*appsv1alpha1.SidecarSetList).Items = r.sets
	return nil
}

// benchmarkSets returns n SidecarSets of which the first three select app=web pods and the rest other apps;
// every fifth has a namespaceSelector.
func benchmarkSets(n int) []appsv1alpha1.SidecarSet {
	sets := make([]appsv1alpha1.SidecarSet, n)
	for i := range sets {
		app := fmt.Sprintf("app-%d", i)
		if i < 3 {
			app = "web"
		}
		sets[i] = appsv1alpha1.SidecarSet{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("set-%04d", i), UID: types.UID(fmt.Sprint(i)), Generation: 1},
			Spec: appsv1alpha1.SidecarSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				Containers: []appsv1alpha1.SidecarContainer{{Container: corev1.Container{
					Name: fmt.Sprintf("sidecar-%d", i), Image: "example.com/sidecar:1",
					VolumeMounts: []corev1.VolumeMount{{Name: fmt.Sprintf("config-%d", i), MountPath: "/etc/sidecar"}},
				}}},
				Volumes: []corev1.Volume{{Name: fmt.Sprintf("config-%d", i), VolumeSource: corev1.VolumeSource{
					ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sidecar"}}}}},
			},
		}
		if i%5 == 0 {
			sets[i].Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"environment": "production"}}
		}
	}
	return sets
}

func benchmarkRequest(b testing.TB) admission.Request {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: map[string]string{"app": "web", "pod-template-hash": "5d8c7f"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "example.com/web:1", Env: []corev1.EnvVar{{Name: "APP_NAME", Value: "web"}},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		}}, Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "shop",
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}}
}

// BenchmarkAdmission measures the webhook handler for one pod with N SidecarSets in the cache, of which three
// select the pod. It excludes TLS and HTTP, which the API server's own admission histogram covers. In the
// "skipping" case one of the three mounts a volume the pod does not have, so the check that the pod stays
// valid finds it and the handler works out which SidecarSet to leave out.
func BenchmarkAdmission(b *testing.B) {
	for _, tc := range []struct {
		n        int
		skipping bool
	}{{100, false}, {1000, false}, {1000, true}, {10000, false}} {
		name := fmt.Sprintf("sidecarsets=%d", tc.n)
		if tc.skipping {
			name += "/skipping"
		}
		b.Run(name, func(b *testing.B) {
			sets := benchmarkSets(tc.n)
			if tc.skipping {
				sets[1].Spec.Containers[0].VolumeMounts[0].Name = "not-in-the-pod"
			}
			index, err := newSidecarSetIndexOf(sets)
			if err != nil {
				b.Fatal(err)
			}
			h := &PodInjector{Reader: &cachedReader{sets: sets}, SidecarSets: index, OperatorNamespace: "sidecarset-system"}
			req := benchmarkRequest(b)
			ctx := context.Background()
			resp := h.Handle(ctx, req)
			if !resp.Allowed || len(resp.Patches) == 0 {
				b.Fatalf("the pod was not injected: %+v", resp.Result)
			}
			if skipped := len(resp.Warnings) > 0; skipped != tc.skipping {
				b.Fatalf("warnings %q, skipping %v", resp.Warnings, tc.skipping)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.Handle(ctx, req)
			}
		})
	}
}

// TestTheWebhookParsesOnlyWhatTheIndexFinds: with 10 SidecarSets of which three select the pod, an admission
// parses the three the index finds by the pod's labels and no other.
func TestTheWebhookParsesOnlyWhatTheIndexFinds(t *testing.T) {
	sets := benchmarkSets(10)
	index, err := newSidecarSetIndexOf(sets)
	if err != nil {
		t.Fatal(err)
	}
	h := &PodInjector{Reader: &cachedReader{sets: sets}, SidecarSets: index, OperatorNamespace: "sidecarset-system"}
	resp := h.Handle(context.Background(), benchmarkRequest(t))
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("the pod was not injected: %+v", resp.Result)
	}
	if n := h.compiled.Len(); n != 3 {
		t.Errorf("parsed %d SidecarSets, want the 3 that select the pod", n)
	}
}
