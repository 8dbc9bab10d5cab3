// Package podview is what the operator keeps in memory of each pod in the cluster: the few fields that
// matching, drift, rollout planning and status read, in a struct a seventh the size of a corev1.Pod.
//
// The operator watches every pod (any pod may come to match a SidecarSet when a selector changes), so this
// is most of its memory: a trimmed corev1.Pod still costs its 1,240-byte struct, a View of a pod no
// SidecarSet injected 184 bytes. Compact is the pod informer's transform; the pure packages that decide on
// pods read the views as they are, without expanding them back into corev1.Pods.
package podview

import (
	"maps"
	"slices"
	"strings"
	"unique"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/intern"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

// View is a pod as the operator keeps it: its name, namespace, UID, resourceVersion, labels, deletion
// timestamp, workload (its controller, by kind and name), node and, of the annotations, only the state
// annotation; its phase and readiness; and, if some
// SidecarSet injected it, its containers. It implements metav1.Object over those fields (the other fields
// read as empty and are not set), so that informers, indexers and event handlers take it as they take a pod.
//
// A View in the informer's store is shared: never modify one.
type View struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	UID             types.UID         `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	// Annotations holds the state annotation when views share it. One that records an in-place update is
	// each pod's own and is kept without a map (Annotations nil): read it with StateAnnotation, or the
	// annotations with GetAnnotations.
	Annotations       map[string]string `json:"annotations,omitempty"`
	DeletionTimestamp *metav1.Time      `json:"deletionTimestamp,omitempty"`

	Phase corev1.PodPhase `json:"phase,omitempty"`
	// Ready is the status of the Ready condition ("" when the pod has none) and ReadySince its last
	// transition.
	Ready      corev1.ConditionStatus `json:"ready,omitempty"`
	ReadySince metav1.Time            `json:"readySince"`

	// Injected is nil for a pod no SidecarSet injected, which is counted as missing its sidecars at most and
	// never updated in place: most pods of a cluster keep nothing more than the fields above.
	Injected *Injected `json:"injected,omitempty"`

	// labels and annotations hold the maps above, which equal views share.
	labels, annotations *sharedMap

	// workload is rollout.WorkloadOf the pod, interned: the pods of one workload share its name.
	workload unique.Handle[string]
	// node is the name of the node the pod runs on, interned: the planner spreads updates across zones.
	node unique.Handle[string]
}

// Workload is the pod's workload, as rollout.WorkloadOf names it.
func (v *View) Workload() string { return value(v.workload) }

// Node is the name of the node the pod is scheduled to, "" before it is.
func (v *View) Node() string { return value(v.node) }

func value(h unique.Handle[string]) string {
	var zero unique.Handle[string]
	if h == zero {
		return ""
	}
	return h.Value()
}

// Injected is what an injected pod's view keeps of its containers.
type Injected struct {
	Containers            []Container       `json:"containers,omitempty"`
	InitContainers        []Container       `json:"initContainers,omitempty"`
	ContainerStatuses     []ContainerStatus `json:"containerStatuses,omitempty"`
	InitContainerStatuses []ContainerStatus `json:"initContainerStatuses,omitempty"`
	// Resize is what the kubelet says of a resize of the pod's containers it has not finished: nil when
	// none is pending or in progress.
	Resize *Resize `json:"resize,omitempty"`
}

// Container is a container's name, image and resources, and of an init container its restartPolicy (Always
// marks a native sidecar).
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Resources are the container's CPU and memory requests and limits, as ResourcesOf writes them.
	Resources     string                         `json:"resources,omitempty"`
	RestartPolicy *corev1.ContainerRestartPolicy `json:"restartPolicy,omitempty"`

	// amounts are Resources as numbers, interned with the string they were worked out from: the containers
	// of a workload share one, and a container keeps a pointer to it rather than the four numbers.
	amounts unique.Handle[amounts]
}

// Amounts are a container's CPU and memory requests and limits as numbers, for sums over many pods: CPU in
// millicores, memory in bytes, rounded up as resource.Quantity's MilliValue and Value round; 0 where none is
// set. A limit without a request requests the limit, as in ResourcesOf.
type Amounts struct {
	RequestMilliCPU, RequestMemory int64
	LimitMilliCPU, LimitMemory     int64
}

// amounts are Amounts with the Resources string they were worked out from.
type amounts struct {
	resources string
	Amounts
}

// Amounts are the container's Resources as numbers. Compact works them out once, with Resources; a copy
// whose Resources were changed since (inplace.Apply's view of a resize in flight) has them worked out again
// from its Resources, so the two never disagree.
func (c *Container) Amounts() Amounts {
	var none unique.Handle[amounts]
	if c.amounts != none {
		if a := c.amounts.Value(); a.resources == c.Resources {
			return a.Amounts
		}
	}
	if c.Resources == "" {
		return Amounts{}
	}
	return parseAmounts(c.Resources)
}

// Resize is where the kubelet stands with a resize of the pod's containers: the pod's PodResizeInProgress
// and PodResizePending conditions.
type Resize struct {
	// InProgress: the kubelet is resizing containers (PodResizeInProgress is True).
	InProgress bool `json:"inProgress,omitempty"`
	// Pending is the reason of PodResizePending when it is True: Infeasible (the node can never fit the
	// resize) or Deferred (it may, later); "" when the condition is not True.
	Pending string `json:"pending,omitempty"`
	// Message is the message of the condition that is True, PodResizePending's first.
	Message string `json:"message,omitempty"`
}

// ContainerStatus is what judging an in-place update reads of a container's status.
type ContainerStatus struct {
	Name         string `json:"name"`
	Image        string `json:"image"`
	ImageID      string `json:"imageID,omitempty"`
	ContainerID  string `json:"containerID,omitempty"`
	RestartCount int32  `json:"restartCount"`
	Ready        bool   `json:"ready"`
	// Resources are the CPU and memory the container runs with, as the kubelet reports them (ResourcesOf);
	// "" when it reports none.
	Resources string `json:"resources,omitempty"`
	// WaitingReason and WaitingMessage are set while the container waits (ErrImagePull, CrashLoopBackOff).
	WaitingReason  string `json:"waitingReason,omitempty"`
	WaitingMessage string `json:"waitingMessage,omitempty"`
}

// StateAnnotation is the pod's state annotation, "" when it has none.
func (v *View) StateAnnotation() string {
	if v.annotations != nil && v.annotations.m == nil {
		return v.annotations.own.String()
	}
	return v.Annotations[appsv1alpha1.StateAnnotation]
}

// State is the pod's state annotation decoded, as podstate.Read decodes it, except that an unreadable one
// reads as none. Views with equal annotations share one decoded state, worked out once, unless it records an
// in-place update: such an annotation is each pod's own, and is decoded again on each call (about 2 µs,
// podstate.BenchmarkParse), which the reconciler's memo (step.Memo) and StateNames spare the hot paths. Read
// it, never modify it.
func (v *View) State() podstate.State {
	if st, ok := v.sharedState(); ok {
		return st
	}
	st, _ := podstate.Parse(v.StateAnnotation())
	return st
}

// sharedState is the decoded state the views with equal annotations share; ok is false when there is none
// to share: no annotation, one that is the pod's own (kept as a string, decoded on each read), or one
// that records an update, which is not kept.
func (v *View) sharedState() (podstate.State, bool) {
	if a := v.annotations; a != nil && a.m != nil {
		return a.decoded()
	}
	return nil, false
}

// StateOf is the pod's state for the SidecarSet named name, State()[name], and whether it has one. An
// annotation that is the pod's own is decoded for that entry alone (podstate.Entry). Read it, never modify it.
func (v *View) StateOf(name string) (podstate.SidecarSetState, bool) {
	if st, ok := v.sharedState(); ok {
		e, ok := st[name]
		return e, ok
	}
	e, ok, _ := podstate.Entry(v.StateAnnotation(), name)
	return e, ok
}

// StateNames are the names of the SidecarSets the pod's state has an entry for, sorted: the SidecarSets
// whose sidecars it carries. Worked out once for views with equal annotations; read it, never modify it.
func (v *View) StateNames() []string {
	if v.annotations == nil {
		return slices.Sorted(maps.Keys(v.State()))
	}
	return v.annotations.stateNames()
}

// GetObjectKind implements runtime.Object: a View is always a Pod.
func (v *View) GetObjectKind() schema.ObjectKind { return v }

// GroupVersionKind implements schema.ObjectKind.
func (v *View) GroupVersionKind() schema.GroupVersionKind {
	return corev1.SchemeGroupVersion.WithKind("Pod")
}

// SetGroupVersionKind implements schema.ObjectKind; a View's kind does not change.
func (v *View) SetGroupVersionKind(schema.GroupVersionKind) {}

// DeepCopyObject implements runtime.Object.
func (v *View) DeepCopyObject() runtime.Object {
	out := *v
	out.Labels = maps.Clone(v.Labels)
	out.Annotations = maps.Clone(v.GetAnnotations())
	out.DeletionTimestamp = v.DeletionTimestamp.DeepCopy()
	out.labels, out.annotations = nil, nil // the copy's maps are its own
	if in := v.Injected; in != nil {
		out.Injected = &Injected{
			Containers:            copyContainers(in.Containers),
			InitContainers:        copyContainers(in.InitContainers),
			ContainerStatuses:     append([]ContainerStatus(nil), in.ContainerStatuses...),
			InitContainerStatuses: append([]ContainerStatus(nil), in.InitContainerStatuses...),
		}
		if in.Resize != nil {
			r := *in.Resize
			out.Injected.Resize = &r
		}
	}
	return &out
}

// WithOwnContainers returns a copy of the view whose containers and Injected are its own: a caller may set a
// container's Image or Resources, or the copy's Injected.Resize, without changing v. The rest (the label and
// annotation maps, the container statuses) is v's, which no one modifies: the pod cache's views are never
// changed. For a view as a write in flight will make it (inplace.Apply), worked out for every such pod of every
// reconcile of a rollout: a whole copy, maps included, was twice the allocation.
func (v *View) WithOwnContainers() *View {
	out := *v
	if in := v.Injected; in != nil {
		own := *in
		own.Containers = slices.Clone(in.Containers)
		own.InitContainers = slices.Clone(in.InitContainers)
		if in.Resize != nil {
			r := *in.Resize
			own.Resize = &r
		}
		out.Injected = &own
	}
	return &out
}

func copyContainers(cs []Container) []Container {
	if cs == nil {
		return nil
	}
	out := make([]Container, len(cs))
	for i, c := range cs {
		out[i] = c
		if c.RestartPolicy != nil {
			p := *c.RestartPolicy
			out[i].RestartPolicy = &p
		}
	}
	return out
}

// recordsAnUpdate says whether an encoded state (podstate.State.Encode) records an in-place update of some
// SidecarSet, by its field name alone: a state named otherwise is only shared when it need not be.
func recordsAnUpdate(state string) bool { return strings.Contains(state, `"update":`) }

// Compact is the pod informer's transform: it turns a *corev1.Pod into a *View and passes anything else
// (a View already, a deletion tombstone) through unchanged.
func Compact(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	v := &View{
		// The namespace is interned: the pods of a namespace share it, and comparing two of them (the
		// planner orders candidates by namespace and name) finds them equal without reading their bytes.
		Name: pod.Name, Namespace: intern.String(pod.Namespace), UID: pod.UID, ResourceVersion: pod.ResourceVersion,
		DeletionTimestamp: pod.DeletionTimestamp,
		Phase:             pod.Status.Phase,
		labels:            share(pod.Labels),
	}
	if w := rollout.WorkloadOf(pod); w != "" {
		v.workload = unique.Make(w)
	}
	if pod.Spec.NodeName != "" {
		v.node = unique.Make(pod.Spec.NodeName)
	}
	if v.labels != nil {
		v.Labels = v.labels.m
	}
	var resizing *Resize
	for _, c := range pod.Status.Conditions {
		switch c.Type {
		case corev1.PodReady:
			v.Ready, v.ReadySince = c.Status, c.LastTransitionTime
		case corev1.PodResizePending, corev1.PodResizeInProgress:
			// A condition the kubelet wrote for an earlier generation is about an earlier resize: the one
			// written since supersedes it (a kubelet that does not record the generation is taken at its word).
			if c.Status == corev1.ConditionTrue && (c.ObservedGeneration == 0 || c.ObservedGeneration >= pod.Generation) {
				resizing = resize(resizing, c)
			}
		}
	}
	state, injected := pod.Annotations[appsv1alpha1.StateAnnotation]
	if !injected {
		return v, nil
	}
	if recordsAnUpdate(state) {
		// Each pod's own (when its update started, each container's run before it): shared by no other
		// view, it would cost a table entry and a copy of its content as large again as itself; and it is
		// kept without a map, whose one entry took about 0.3 KB a pod beside the annotation, for every pod
		// updated in place since the operator started. What comes before the update's start time is alike
		// in the pods of one update, and interned (ownState).
		v.annotations = &sharedMap{own: newOwnState(state)}
	} else {
		v.annotations = share(map[string]string{appsv1alpha1.StateAnnotation: state})
		v.Annotations = v.annotations.m
	}
	v.Injected = &Injected{
		Containers:            compactContainers(pod.Spec.Containers),
		InitContainers:        compactContainers(pod.Spec.InitContainers),
		ContainerStatuses:     compactStatuses(pod.Status.ContainerStatuses),
		InitContainerStatuses: compactStatuses(pod.Status.InitContainerStatuses),
		Resize:                resizing,
	}
	return v, nil
}

func compactContainers(cs []corev1.Container) []Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]Container, len(cs))
	for i, c := range cs {
		out[i] = Container{Name: intern.String(c.Name), Image: intern.String(c.Image), Resources: ResourcesOf(&c.Resources), RestartPolicy: restartPolicy(c.RestartPolicy)}
		if out[i].Resources != "" {
			out[i].amounts = unique.Make(amounts{out[i].Resources, amountsOf(&c.Resources)})
		}
	}
	return out
}

func compactStatuses(ss []corev1.ContainerStatus) []ContainerStatus {
	if len(ss) == 0 {
		return nil
	}
	out := make([]ContainerStatus, len(ss))
	for i, s := range ss {
		out[i] = ContainerStatus{Name: intern.String(s.Name), Image: intern.String(s.Image), ImageID: intern.String(s.ImageID), ContainerID: s.ContainerID,
			RestartCount: s.RestartCount, Ready: s.Ready, Resources: ResourcesOf(s.Resources)}
		if w := s.State.Waiting; w != nil {
			out[i].WaitingReason, out[i].WaitingMessage = w.Reason, w.Message
		}
	}
	return out
}

// always is the restartPolicy of every native sidecar's view, read only.
var always = corev1.ContainerRestartPolicyAlways

// restartPolicy is p, shared when it is Always rather than kept from the decoded pod.
func restartPolicy(p *corev1.ContainerRestartPolicy) *corev1.ContainerRestartPolicy {
	if p != nil && *p == always {
		return &always
	}
	return p
}

// resize records a True resize condition of the pod in r (nil: none yet).
func resize(r *Resize, c corev1.PodCondition) *Resize {
	if r == nil {
		r = &Resize{}
	}
	if c.Type == corev1.PodResizePending {
		r.Pending, r.Message = c.Reason, c.Message
	} else {
		r.InProgress = true
		if r.Message == "" {
			r.Message = c.Message
		}
	}
	return r
}

// resizable are the resources the kubelet resizes in place.
var resizable = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

// requested is the request of resource name in r: the limit when only a limit is set, as the API server
// defaults it.
func requested(r *corev1.ResourceRequirements, name corev1.ResourceName) (resource.Quantity, bool) {
	if q, ok := r.Requests[name]; ok {
		return q, true
	}
	q, ok := r.Limits[name]
	return q, ok
}

// amountsOf is r as numbers.
func amountsOf(r *corev1.ResourceRequirements) Amounts {
	var a Amounts
	if q, ok := requested(r, corev1.ResourceCPU); ok {
		a.RequestMilliCPU = q.MilliValue()
	}
	if q, ok := requested(r, corev1.ResourceMemory); ok {
		a.RequestMemory = q.Value()
	}
	if q, ok := r.Limits[corev1.ResourceCPU]; ok {
		a.LimitMilliCPU = q.MilliValue()
	}
	if q, ok := r.Limits[corev1.ResourceMemory]; ok {
		a.LimitMemory = q.Value()
	}
	return a
}

// parseAmounts reads a string ResourcesOf wrote as numbers, as amountsOf would have worked them out from the
// resources it was written from.
func parseAmounts(s string) Amounts {
	var r corev1.ResourceRequirements
	for part := range strings.SplitSeq(s, ", ") {
		kind, fields, _ := strings.Cut(part, " ")
		list := corev1.ResourceList{}
		for field := range strings.FieldsSeq(fields) {
			name, value, _ := strings.Cut(field, "=")
			if q, err := resource.ParseQuantity(value); err == nil {
				list[corev1.ResourceName(name)] = q
			}
		}
		if kind == "limits" {
			r.Limits = list
		} else {
			r.Requests = list
		}
	}
	return amountsOf(&r)
}

// ResourcesOf writes a container's CPU and memory requests and limits as one comparable string, such as
// "requests cpu=100m memory=64Mi, limits memory=128Mi": equal strings are equal resources. A limit without a
// request requests the limit, as the API server defaults it, so a container's resources as written and as
// stored compare equal. The string is interned: the containers of a workload share one. nil reads as "".
func ResourcesOf(r *corev1.ResourceRequirements) string {
	if r == nil {
		return ""
	}
	var requests, limits []string
	for _, name := range resizable {
		req, hasReq := requested(r, name)
		limit, hasLimit := r.Limits[name]
		if hasReq {
			requests = append(requests, string(name)+"="+req.String())
		}
		if hasLimit {
			limits = append(limits, string(name)+"="+limit.String())
		}
	}
	var parts []string
	if len(requests) > 0 {
		parts = append(parts, "requests "+strings.Join(requests, " "))
	}
	if len(limits) > 0 {
		parts = append(parts, "limits "+strings.Join(limits, " "))
	}
	if len(parts) == 0 {
		return ""
	}
	return intern.String(strings.Join(parts, ", "))
}
