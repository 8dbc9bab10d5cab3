package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
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

// BenchmarkAdmissionHTTP is one AdmissionReview of a Deployment's pod through the webhook's HTTP handler, as
// the API server posts it (decoding the review, the handler, the JSON patch, encoding the answer), without
// TLS: with 10 SidecarSets, three of them selecting the pod, and, beside it, a handler that allows every pod
// unchanged, the do-nothing control webhook of make bench-cluster. Under a burst of pod creations the calls
// queue for the operator's CPU, so what one costs over the control's is what the burst figure measures.
func BenchmarkAdmissionHTTP(b *testing.B) {
	sets := benchmarkSets(10)
	index, err := newSidecarSetIndexOf(sets)
	if err != nil {
		b.Fatal(err)
	}
	body := admissionReviewBody(b)
	for _, tc := range []struct {
		name    string
		handler admission.Handler
	}{
		{"injecting", &PodInjector{Reader: &cachedReader{sets: sets}, SidecarSets: index, OperatorNamespace: "sidecarset-system"}},
		{"control", admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })},
	} {
		b.Run(tc.name, func(b *testing.B) {
			wh := &admission.Webhook{Handler: tc.handler}
			serve := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodPost, "/inject-v1-pod", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				wh.ServeHTTP(rec, req)
				return rec
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(serve().Body.Bytes(), &review); err != nil || review.Response == nil || !review.Response.Allowed {
				b.Fatalf("not allowed: %v %+v", err, review.Response)
			}
			if (tc.name == "injecting") != (len(review.Response.Patch) > 0) {
				b.Fatalf("patch of %d bytes from the %s handler", len(review.Response.Patch), tc.name)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serve()
			}
		})
	}
}

// admissionReviewBody is the AdmissionReview of the creation of a Deployment's pod, as the API server posts
// it: the pod after the API server's defaulting, with an owner, resources, probes and a service account
// token volume.
func admissionReviewBody(tb testing.TB) []byte {
	tb.Helper()
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-5d8c7f-", Namespace: "shop",
			Labels: map[string]string{"app": "web", "pod-template-hash": "5d8c7f"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8c7f", UID: "rs-uid",
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: "example.com/web:1", ImagePullPolicy: corev1.PullIfNotPresent,
				Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "APP_NAME", Value: "web"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "data", MountPath: "/data"},
					{Name: "kube-api-access-x7k2p", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "kube-api-access-x7k2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
							Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					}, DefaultMode: ptr.To[int32](420)}}},
			},
			RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst, ServiceAccountName: "default",
			TerminationGracePeriodSeconds: ptr.To[int64](30), SchedulerName: corev1.DefaultSchedulerName,
			SecurityContext: &corev1.PodSecurityContext{}, EnableServiceLinks: ptr.To(true), PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority),
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}},
		},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "7c1b0c4e-0b7a-4d0e-9d43-2f1f8b1c3a55",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "shop", Operation: admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller"},
			Object:   runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}
