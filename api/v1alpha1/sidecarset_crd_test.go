package v1alpha1_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// validSidecarSet is the smallest realistic SidecarSet; each invalid case breaks exactly one thing in it.
func validSidecarSet() *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(`
apiVersion: apps.sidecarset.io/v1alpha1
kind: SidecarSet
metadata:
  generateName: crd-test-
spec:
  selector:
    matchLabels:
      app: web
  containers:
  - name: log-shipper
    image: example.com/log-shipper:1.0
    volumeMounts:
    - name: logs
      mountPath: /var/log/app
  volumes:
  - name: logs
    emptyDir: {}
`), &obj.Object)).To(Succeed())
	return obj
}

// mutation changes the spec of a valid SidecarSet.
type mutation func(spec map[string]any)

// set sets the spec field at path (a nil value removes it).
func set(value any, path ...string) mutation {
	return func(spec map[string]any) {
		if value == nil {
			unstructured.RemoveNestedField(spec, path...)
			return
		}
		Expect(unstructured.SetNestedField(spec, value, path...)).To(Succeed())
	}
}

// setContainer sets a field of the first container (a nil value removes it).
func setContainer(field string, value any) mutation {
	return func(spec map[string]any) {
		c := spec["containers"].([]any)[0].(map[string]any)
		if value == nil {
			delete(c, field)
			return
		}
		c[field] = value
	}
}

// addContainer appends a container to the list at key ("containers" or "initContainers").
func addContainer(key, name string) mutation {
	return func(spec map[string]any) {
		list, _ := spec[key].([]any)
		spec[key] = append(list, map[string]any{"name": name, "image": "example.com/" + name + ":1.0"})
	}
}

func patchMetadata(entry map[string]any) mutation {
	return set([]any{entry}, "patchPodMetadata")
}

func weight(w int64) mutation {
	return set(map[string]any{"weightPriority": []any{
		map[string]any{"weight": w, "matchSelector": map[string]any{"matchLabels": map[string]any{"tier": "front"}}},
	}}, "updateStrategy", "priorityStrategy")
}

func both(a, b mutation) mutation {
	return func(spec map[string]any) { a(spec); b(spec) }
}

func sampleFiles() []string {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var samples []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			samples = append(samples, f)
		}
	}
	return samples
}

// kubectl runs the kubectl built with the control plane as a cluster admin, with a discovery cache of its own
// (a cache left by another run against the same address could predate the CRD).
func kubectl(args ...string) (string, error) {
	args = append([]string{"--cache-dir=" + kubectlCacheDir}, args...)
	stdout, stderr, err := testEnv.ControlPlane.KubeCtl().Run(args...)
	out, _ := io.ReadAll(stdout)
	errOut, _ := io.ReadAll(stderr)
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errOut)
	}
	return string(out), nil
}

var kubectlCacheDir string

var _ = Describe("The SidecarSet CRD", func() {
	BeforeEach(func() { kubectlCacheDir = GinkgoT().TempDir() })

	It("accepts every sample under config/samples, with no unknown or dropped field", func() {
		samples := sampleFiles()
		Expect(samples).To(HaveLen(4))
		for _, f := range samples {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			obj := &unstructured.Unstructured{}
			Expect(yaml.Unmarshal(data, &obj.Object)).To(Succeed(), f)
			// Strict field validation refuses unknown fields instead of pruning them silently.
			Expect(k8sClient.Create(ctx, obj, client.FieldValidation("Strict"))).To(Succeed(), f)
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed()) })

			stored := &unstructured.Unstructured{}
			stored.SetGroupVersionKind(appsv1alpha1.GroupVersion.WithKind("SidecarSet"))
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), stored)).To(Succeed())
			var written map[string]any
			Expect(yaml.Unmarshal(data, &written)).To(Succeed())
			Expect(stored.Object["spec"]).To(includeAll(written["spec"]), "%s: a field of the sample was not stored", f)
		}
	})

	It("ships, in config/samples/sidecar-config, every ConfigMap the samples mount", func() {
		dir := filepath.Join("..", "..", "config", "samples", "sidecar-config")
		data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var kustomization struct {
			Namespace string   `json:"namespace"`
			Resources []string `json:"resources"`
		}
		Expect(yaml.UnmarshalStrict(data, &kustomization)).To(Succeed())
		// The namespace is the one of the pods, given with kubectl apply -n.
		Expect(kustomization.Namespace).To(BeEmpty())
		shipped := map[string]bool{}
		for _, f := range kustomization.Resources {
			data, err := os.ReadFile(filepath.Join(dir, f))
			Expect(err).NotTo(HaveOccurred())
			cm := &corev1.ConfigMap{}
			Expect(yaml.UnmarshalStrict(data, cm)).To(Succeed(), f)
			Expect(cm.Kind).To(Equal("ConfigMap"), f)
			Expect(cm.Namespace).To(BeEmpty(), f)
			cm.Namespace = "default"
			Expect(k8sClient.Create(ctx, cm, client.DryRunAll)).To(Succeed(), f)
			shipped[cm.Name] = true
		}
		for _, f := range sampleFiles() {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			set := &appsv1alpha1.SidecarSet{}
			Expect(yaml.UnmarshalStrict(data, set)).To(Succeed(), f)
			for _, v := range set.Spec.Volumes {
				if v.ConfigMap != nil {
					Expect(shipped).To(HaveKey(v.ConfigMap.Name), "%s mounts a ConfigMap the samples do not ship", f)
				}
			}
		}
	})

	DescribeTable("refuses an invalid SidecarSet with a message naming the field and the rule",
		func(breakIt mutation, field, message string) {
			obj := validSidecarSet()
			breakIt(obj.Object["spec"].(map[string]any))
			err := k8sClient.Create(ctx, obj)
			Expect(err).To(HaveOccurred(), "the API server accepted it")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "not an Invalid error: %v", err)
			Expect(err.Error()).To(ContainSubstring(field+": "), "the message does not name the field")
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("an empty selector", set(map[string]any{}, "selector"),
			"spec.selector", "selector must not be empty: set matchLabels or matchExpressions"),
		Entry("a selector with empty matchLabels", set(map[string]any{"matchLabels": map[string]any{}}, "selector"),
			"spec.selector", "selector must not be empty"),
		Entry("a selector expression with an unknown operator",
			set(map[string]any{"matchExpressions": []any{map[string]any{"key": "app", "operator": "Inn", "values": []any{"web"}}}}, "selector"),
			"spec.selector", "matchExpressions: the operator must be In or NotIn with values, or Exists or DoesNotExist without"),
		Entry("an In selector expression without values",
			set(map[string]any{"matchExpressions": []any{map[string]any{"key": "app", "operator": "In"}}}, "selector"),
			"spec.selector", "matchExpressions: the operator must be In or NotIn with values"),
		Entry("an Exists namespace selector expression with values",
			set(map[string]any{"matchExpressions": []any{map[string]any{"key": "env", "operator": "Exists", "values": []any{"prod"}}}}, "namespaceSelector"),
			"spec.namespaceSelector", "matchExpressions: the operator must be In or NotIn with values, or Exists or DoesNotExist without"),
		Entry("an update selector expression with an unknown operator",
			set(map[string]any{"matchExpressions": []any{map[string]any{"key": "canary", "operator": "Equals", "values": []any{"true"}}}}, "updateStrategy", "selector"),
			"spec.updateStrategy.selector", "matchExpressions: the operator must be In or NotIn with values"),
		Entry("no selector", set(nil, "selector"),
			"spec.selector", "Required value"),
		Entry("nothing to inject", set(nil, "containers"),
			"spec", "a SidecarSet must inject at least one container or initContainer"),
		Entry("the same name in containers and initContainers", addContainer("initContainers", "log-shipper"),
			"spec", "container names must be unique across containers and initContainers"),
		Entry("the same name twice in containers", addContainer("containers", "log-shipper"),
			"spec.containers[1]", "Duplicate value"),
		Entry("a container without an image", setContainer("image", nil),
			"spec.containers[0]", "image is required: a sidecar without an image would make every matched pod invalid"),
		Entry("a container name that is not a DNS label", setContainer("name", "Log_Shipper"),
			"spec.containers[0]", "name must be a DNS label"),
		Entry("an embedded container field of the wrong type", setContainer("ports", []any{map[string]any{"containerPort": "http"}}),
			"spec.containers[0].ports[0].containerPort", "Invalid value"),
		Entry("partition and selector together",
			both(set(int64(2), "updateStrategy", "partition"),
				set(map[string]any{"matchLabels": map[string]any{"canary": "true"}}, "updateStrategy", "selector")),
			"spec.updateStrategy", "partition and selector cannot both be set"),
		Entry("a partition of 1% and selector together",
			both(set("1%", "updateStrategy", "partition"),
				set(map[string]any{"matchLabels": map[string]any{"canary": "true"}}, "updateStrategy", "selector")),
			"spec.updateStrategy", "partition and selector cannot both be set"),
		Entry("recreate by eviction with type NotUpdate",
			both(set("NotUpdate", "updateStrategy", "type"), set(map[string]any{"policy": "Evict"}, "updateStrategy", "recreate")),
			"spec.updateStrategy", "recreate.policy Evict cannot be set with type NotUpdate"),
		Entry("a recreate policy that is not one", set(map[string]any{"policy": "Delete"}, "updateStrategy", "recreate"),
			"spec.updateStrategy.recreate.policy", "Unsupported value"),
		Entry("recreate.maxPerWorkload 0", set(map[string]any{"policy": "Evict", "maxPerWorkload": int64(0)}, "updateStrategy", "recreate"),
			"spec.updateStrategy.recreate.maxPerWorkload", "should be greater than or equal to 1"),
		Entry("maxUnavailable 0", set(int64(0), "updateStrategy", "maxUnavailable"),
			"spec.updateStrategy.maxUnavailable", "maxUnavailable must be an integer of at least 1 or a percentage from 1% to 100%"),
		Entry("maxUnavailable 0%", set("0%", "updateStrategy", "maxUnavailable"),
			"spec.updateStrategy.maxUnavailable", "maxUnavailable must be an integer of at least 1"),
		Entry("maxUnavailable 150%", set("150%", "updateStrategy", "maxUnavailable"),
			"spec.updateStrategy.maxUnavailable", "maxUnavailable must be an integer of at least 1"),
		Entry("maxUnavailable that is not a number", set("ten", "updateStrategy", "maxUnavailable"),
			"spec.updateStrategy.maxUnavailable", "maxUnavailable must be an integer of at least 1"),
		Entry("a negative partition", set(int64(-1), "updateStrategy", "partition"),
			"spec.updateStrategy.partition", "partition must be an integer of at least 0 or a percentage from 0% to 100%"),
		Entry("partition 101%", set("101%", "updateStrategy", "partition"),
			"spec.updateStrategy.partition", "partition must be an integer of at least 0"),
		Entry("maxFailedPods 0", set(int64(0), "updateStrategy", "failurePolicy", "maxFailedPods"),
			"spec.updateStrategy.failurePolicy.maxFailedPods", "maxFailedPods must be an integer of at least 1"),
		Entry("a priority weight of 0", weight(0),
			"spec.updateStrategy.priorityStrategy.weightPriority[0].weight", "weight must be between 1 and 100"),
		Entry("a priority weight of 101", weight(101),
			"spec.updateStrategy.priorityStrategy.weightPriority[0].weight", "weight must be between 1 and 100"),
		Entry("an empty weightPriority", set(map[string]any{"weightPriority": []any{}}, "updateStrategy", "priorityStrategy"),
			"spec.updateStrategy.priorityStrategy.weightPriority", "should have at least 1 items"),
		Entry("revisionHistoryLimit 0", set(int64(0), "revisionHistoryLimit"),
			"spec.revisionHistoryLimit", "revisionHistoryLimit must be at least 1"),
		Entry("a pinned revision that is not a DNS name", set("Log_Shipper-5d8c", "injectionStrategy", "revisionName"),
			"spec.injectionStrategy.revisionName", "revisionName must be a DNS subdomain name"),
		Entry("an unknown update strategy type", set("Recreate", "updateStrategy", "type"),
			"spec.updateStrategy.type", `Unsupported value: "Recreate"`),
		Entry("an unknown failure action", set("Ignore", "updateStrategy", "failurePolicy", "action"),
			"spec.updateStrategy.failurePolicy.action", `Unsupported value: "Ignore"`),
		Entry("a progress deadline of 0", set(int64(0), "updateStrategy", "progressDeadlineSeconds"),
			"spec.updateStrategy.progressDeadlineSeconds", "should be greater than or equal to 1"),
		Entry("a negative minReadySeconds", set(int64(-5), "updateStrategy", "minReadySeconds"),
			"spec.updateStrategy.minReadySeconds", "should be greater than or equal to 0"),
		Entry("an unknown podInjectPolicy", setContainer("podInjectPolicy", "Middle"),
			"spec.containers[0].podInjectPolicy", `Unsupported value: "Middle"`),
		Entry("an unknown shareVolumePolicy", setContainer("shareVolumePolicy", "Sometimes"),
			"spec.containers[0].shareVolumePolicy", `Unsupported value: "Sometimes"`),
		Entry("a transferEnv without envName", setContainer("transferEnv", []any{map[string]any{"sourceContainerName": "app"}}),
			"spec.containers[0].transferEnv[0].envName", "Required value"),
		Entry("a patchPodMetadata entry with nothing to patch", patchMetadata(map[string]any{"policy": "Overwrite"}),
			"spec.patchPodMetadata[0]", "each patchPodMetadata entry must set labels or annotations"),
		Entry("a patchPodMetadata label under the reserved prefix", patchMetadata(map[string]any{"labels": map[string]any{"sidecarset.io/inject": "true"}}),
			"spec.patchPodMetadata[0].labels", "labels with the sidecarset.io/ prefix are reserved for the operator"),
		Entry("a patchPodMetadata annotation under the reserved prefix", patchMetadata(map[string]any{"annotations": map[string]any{"sidecarset.io/state": "{}"}}),
			"spec.patchPodMetadata[0].annotations", "annotations with the sidecarset.io/ prefix are reserved for the operator"),
		Entry("a patchPodMetadata label key that is not a qualified name", patchMetadata(map[string]any{"labels": map[string]any{"team name": "a"}}),
			"spec.patchPodMetadata[0].labels", "label keys must be qualified names"),
		Entry("a patchPodMetadata label value that is not a label value", patchMetadata(map[string]any{"labels": map[string]any{"team": "a b"}}),
			"spec.patchPodMetadata[0].labels", "label values must be at most 63 letters"),
		Entry("an unknown patchPodMetadata policy", patchMetadata(map[string]any{"labels": map[string]any{"team": "a"}, "policy": "Merge"}),
			"spec.patchPodMetadata[0].policy", `Unsupported value: "Merge"`),
		Entry("an imagePullSecrets entry without a name", set([]any{map[string]any{}}, "imagePullSecrets"),
			"spec.imagePullSecrets", "each imagePullSecrets entry must name a Secret"),
		Entry("two volumes of the same name", set([]any{
			map[string]any{"name": "logs", "emptyDir": map[string]any{}},
			map[string]any{"name": "logs", "emptyDir": map[string]any{}},
		}, "volumes"),
			"spec.volumes[1]", "Duplicate value"),
		Entry("a scatter term without a key", set([]any{map[string]any{"value": "a"}}, "updateStrategy", "scatterStrategy"),
			"spec.updateStrategy.scatterStrategy[0].key", "Required value"),
	)

	It("takes a partition of 0 or 0% left beside updateStrategy.selector as no partition", func() {
		for _, partition := range []any{int64(0), "0%"} {
			obj := validSidecarSet()
			Expect(unstructured.SetNestedField(obj.Object, partition, "spec", "updateStrategy", "partition")).To(Succeed())
			Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "partition %v", partition)
			DeferCleanup(func() { Expect(k8sClient.Delete(ctx, obj)).To(Succeed()) })

			// The selector is set later, with the partition left in place.
			Expect(unstructured.SetNestedField(obj.Object, map[string]any{"matchLabels": map[string]any{"canary": "true"}},
				"spec", "updateStrategy", "selector")).To(Succeed())
			Expect(k8sClient.Update(ctx, obj)).To(Succeed(), "partition %v", partition)
		}
	})

	It("merges a server-side apply of one pull secret with the others: imagePullSecrets are keyed by name", func() {
		full := validSidecarSet()
		full.SetGenerateName("")
		full.SetName("pull-secrets")
		Expect(unstructured.SetNestedSlice(full.Object, []any{map[string]any{"name": "registry-a"}, map[string]any{"name": "registry-b"}},
			"spec", "imagePullSecrets")).To(Succeed())
		Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(full), client.FieldOwner("platform"))).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, full)).To(Succeed()) })

		// The partial object one team applies: its own pull secret, nothing else (the apply writes the stored
		// object back into what it is given, so each apply gets a new one).
		partial := func(secrets ...any) *unstructured.Unstructured {
			spec := map[string]any{}
			if len(secrets) > 0 {
				spec["imagePullSecrets"] = secrets
			}
			return &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "apps.sidecarset.io/v1alpha1", "kind": "SidecarSet", "metadata": map[string]any{"name": "pull-secrets"},
				"spec": spec,
			}}
		}
		Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(partial(map[string]any{"name": "registry-c"})),
			client.FieldOwner("team-c"))).To(Succeed())

		stored := &appsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(full), stored)).To(Succeed())
		Expect(stored.Spec.ImagePullSecrets).To(ConsistOf(
			HaveField("Name", "registry-a"), HaveField("Name", "registry-b"), HaveField("Name", "registry-c")))
		Expect(stored.Spec.Containers).To(HaveLen(1))
		Expect(stored.Spec.Containers[0].VolumeMounts).To(HaveLen(1), "the partial apply touched the containers")

		// The entry's owner removes it by applying without it; the others stay.
		Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(partial()), client.FieldOwner("team-c"))).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(full), stored)).To(Succeed())
		Expect(stored.Spec.ImagePullSecrets).To(ConsistOf(HaveField("Name", "registry-a"), HaveField("Name", "registry-b")))
	})

	It("refuses an invalid change to a stored SidecarSet and keeps the stored spec", func() {
		obj := validSidecarSet()
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, obj)).To(Succeed()) })
		before := obj.DeepCopy()

		Expect(unstructured.SetNestedField(obj.Object, "0%", "spec", "updateStrategy", "maxUnavailable")).To(Succeed())
		err := k8sClient.Update(ctx, obj)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("maxUnavailable must be an integer of at least 1"))

		stored := &unstructured.Unstructured{}
		stored.SetGroupVersionKind(before.GroupVersionKind())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(before), stored)).To(Succeed())
		Expect(stored.Object["spec"]).To(Equal(before.Object["spec"]))
		Expect(stored.GetGeneration()).To(Equal(before.GetGeneration()))
	})

	It("applies the documented defaults", func() {
		obj := validSidecarSet()
		Expect(unstructured.SetNestedField(obj.Object, []any{map[string]any{"labels": map[string]any{"team": "a"}}},
			"spec", "patchPodMetadata")).To(Succeed())
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, obj)).To(Succeed()) })

		set := &appsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), set)).To(Succeed())
		us := set.Spec.UpdateStrategy
		Expect(us.Type).To(Equal(appsv1alpha1.RollingUpdateStrategyType))
		Expect(us.MaxUnavailable).To(Equal(ptrTo(intstr.FromInt32(1))))
		Expect(us.Partition).To(BeNil())
		Expect(us.ProgressDeadlineSeconds).To(Equal(ptrTo(int32(600))))
		Expect(us.MinReadySeconds).To(BeZero())
		Expect(us.Paused).To(BeFalse())
		Expect(us.FailurePolicy.MaxFailedPods).To(Equal(ptrTo(intstr.FromInt32(1))))
		Expect(us.FailurePolicy.Action).To(Equal(appsv1alpha1.FailureActionPause))
		Expect(set.Spec.RevisionHistoryLimit).To(Equal(ptrTo(int32(10))))
		Expect(set.Spec.Containers[0].ShareVolumePolicy).To(Equal(appsv1alpha1.ShareVolumePolicyDisabled))
		// Left empty on purpose: the placement depends on the kind of container (see the field's doc).
		Expect(set.Spec.Containers[0].PodInjectPolicy).To(BeEmpty())
		Expect(set.Spec.PatchPodMetadata[0].Policy).To(Equal(appsv1alpha1.PodMetadataPatchRetain))
		Expect(set.Spec.InjectionStrategy.Paused).To(BeFalse())
		Expect(set.Spec.InjectionStrategy.RevisionName).To(BeNil())
	})

	It("defaults the fields a partial updateStrategy leaves out", func() {
		obj := validSidecarSet()
		Expect(unstructured.SetNestedField(obj.Object, map[string]any{"paused": true, "failurePolicy": map[string]any{"action": "Rollback"}},
			"spec", "updateStrategy")).To(Succeed())
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, obj)).To(Succeed()) })

		set := &appsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), set)).To(Succeed())
		us := set.Spec.UpdateStrategy
		Expect(us.Paused).To(BeTrue())
		Expect(us.Type).To(Equal(appsv1alpha1.RollingUpdateStrategyType))
		Expect(us.MaxUnavailable).To(Equal(ptrTo(intstr.FromInt32(1))))
		Expect(us.FailurePolicy.Action).To(Equal(appsv1alpha1.FailureActionRollback))
		Expect(us.FailurePolicy.MaxFailedPods).To(Equal(ptrTo(intstr.FromInt32(1))))
		Expect(us.Recreate).To(BeNil(), "nothing is evicted unless asked")
	})

	It("defaults a recreate strategy to evict nothing, and one pod of a workload at a time", func() {
		obj := validSidecarSet()
		Expect(unstructured.SetNestedField(obj.Object, map[string]any{}, "spec", "updateStrategy", "recreate")).To(Succeed())
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, obj)).To(Succeed()) })

		set := &appsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), set)).To(Succeed())
		Expect(set.Spec.UpdateStrategy.Recreate).To(Equal(&appsv1alpha1.RecreateStrategy{Policy: appsv1alpha1.RecreateNever, MaxPerWorkload: ptrTo(int32(1))}))
	})

	It("keeps status apart from spec: a status write does not bump the generation, a spec write does", func() {
		obj := validSidecarSet()
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, obj)).To(Succeed()) })

		set := &appsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), set)).To(Succeed())
		generation := set.Generation
		Expect(generation).To(Equal(int64(1)))

		set.Status.MatchedPods = 7
		set.Status.ObservedGeneration = generation
		set.Status.Conditions = []metav1.Condition{{Type: appsv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: appsv1alpha1.ReasonRolloutComplete, Message: "7 of 7 pods updated", LastTransitionTime: metav1.Now()}}
		Expect(k8sClient.Status().Update(ctx, set)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), set)).To(Succeed())
		Expect(set.Generation).To(Equal(generation), "a status write bumped the generation")
		Expect(set.Status.MatchedPods).To(Equal(int32(7)))

		// A status change sent to the main resource is ignored; a spec change sent to it bumps the generation.
		set.Status.MatchedPods = 99
		set.Spec.UpdateStrategy.Paused = true
		Expect(k8sClient.Update(ctx, set)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), set)).To(Succeed())
		Expect(set.Generation).To(Equal(generation + 1))
		Expect(set.Status.MatchedPods).To(Equal(int32(7)))
		Expect(set.Spec.UpdateStrategy.Paused).To(BeTrue())
	})

	It("is explained by kubectl explain with the documented fields", func() {
		var out string
		Eventually(func() error {
			var err error
			out, err = kubectl("explain", "sidecarsets.spec.updateStrategy")
			return err
		}).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		for _, field := range []string{"type", "paused", "maxUnavailable", "partition", "selector", "priorityStrategy",
			"scatterStrategy", "minReadySeconds", "progressDeadlineSeconds", "failurePolicy"} {
			Expect(out).To(MatchRegexp(`(?m)^\s+%s\s+<`, field), "kubectl explain does not list %s", field)
		}
		Expect(out).To(ContainSubstring("GROUP:      apps.sidecarset.io"))
		Expect(words(out)).To(ContainSubstring("updateStrategy controls how a changed sidecar reaches pods that are already running."))
		Expect(words(out)).To(ContainSubstring("maxUnavailable is the most matched pods that may be unavailable at once during an update"))

		out, err := kubectl("explain", "scs.spec.containers.podInjectPolicy")
		Expect(err).NotTo(HaveOccurred())
		Expect(words(out)).To(ContainSubstring("classic init containers go after the app's init containers"))

		// The embedded Kubernetes types carry their full schema, so their fields are explained too.
		out, err = kubectl("explain", "scs.spec.initContainers.restartPolicy")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("FIELD: restartPolicy <string>"))
	})

	It("lists the rollout counts as columns of kubectl get", func() {
		obj := validSidecarSet()
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, obj)).To(Succeed()) })
		set := &appsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), set)).To(Succeed())
		set.Status = appsv1alpha1.SidecarSetStatus{MatchedPods: 30, UpdatedPods: 12, ReadyPods: 29, DriftedPods: 18,
			LatestRevision: set.Name + "-5d8c7f"}
		Expect(k8sClient.Status().Update(ctx, set)).To(Succeed())

		out, err := kubectl("get", "scs", set.Name)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(MatchRegexp(`NAME\s+MATCHED\s+UPDATED\s+READY\s+DRIFTED\s+AGE\n`))
		Expect(out).To(MatchRegexp(`%s\s+30\s+12\s+29\s+18\s+\S+\n`, set.Name))

		out, err = kubectl("get", "scs", set.Name, "-o", "wide")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(MatchRegexp(`DRIFTED\s+AGE\s+LATEST REVISION\s+SIDECAR CPU\s+CPU SHARE\s+SIDECAR MEMORY\s+MEMORY SHARE\n`))
		Expect(out).To(ContainSubstring(set.Name + "-5d8c7f"))
	})
})

func ptrTo[T any](v T) *T { return &v }

// words joins the words of s with single spaces, undoing kubectl's line wrapping.
func words(s string) string { return strings.Join(strings.Fields(s), " ") }

// includeAll succeeds when every field of want is in the actual value with the same value; the actual value
// may have more fields (the defaults the API server filled in).
func includeAll(want any) OmegaMatcher {
	return WithTransform(func(got any) string {
		return strings.Join(missing("spec", got, want), "\n")
	}, BeEmpty())
}

func missing(path string, got, want any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + ": not an object"}
		}
		var out []string
		for k, v := range w {
			out = append(out, missing(path+"."+k, g[k], v)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{path + ": list differs"}
		}
		var out []string
		for i := range w {
			out = append(out, missing(fmt.Sprintf("%s[%d]", path, i), g[i], w[i])...)
		}
		return out
	default:
		// YAML and JSON disagree on number types (float64 vs int64); compare the printed forms.
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return []string{fmt.Sprintf("%s: stored %v, sample has %v", path, got, want)}
		}
		return nil
	}
}
