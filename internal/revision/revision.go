// Package revision names the revisions of a SidecarSet. A revision is everything the SidecarSet injects into a
// pod; its name is the SidecarSet's name and a hash of that content, so the webhook and the controller name
// the same spec the same way without talking to each other, and re-applying an old spec gives the old name.
package revision

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// hashLength is how many hex digits of the hash a revision name carries: 40 bits, and the SidecarSet's
// collisionCount salts the hash on the rare collision.
const hashLength = 10

// Injected is the part of a SidecarSet spec that ends up in pods. Selectors and strategies are left out: a
// change to them changes who gets the sidecars and when, not what the sidecars are.
type Injected struct {
	Containers       []appsv1alpha1.SidecarContainer `json:"containers,omitempty"`
	InitContainers   []appsv1alpha1.SidecarContainer `json:"initContainers,omitempty"`
	Volumes          []corev1.Volume                 `json:"volumes,omitempty"`
	ImagePullSecrets []corev1.LocalObjectReference   `json:"imagePullSecrets,omitempty"`
	PatchPodMetadata []appsv1alpha1.PodMetadataPatch `json:"patchPodMetadata,omitempty"`
}

// InjectedOf returns the injected part of a spec.
func InjectedOf(spec *appsv1alpha1.SidecarSetSpec) Injected {
	return Injected{
		Containers:       spec.Containers,
		InitContainers:   spec.InitContainers,
		Volumes:          spec.Volumes,
		ImagePullSecrets: spec.ImagePullSecrets,
		PatchPodMetadata: spec.PatchPodMetadata,
	}
}

// Hash returns a stable hash of the injected content, salted with the collision count when there is one.
// encoding/json writes struct fields in declaration order and map keys sorted, so the hash does not depend
// on the order of map keys in the manifest; list order does matter, as it does in a pod.
func Hash(in Injected, collisionCount *int32) string {
	data, err := json.Marshal(in)
	if err != nil {
		// The injected content is plain API data: it always marshals.
		panic(fmt.Sprintf("hashing sidecars: %v", err))
	}
	h := sha256.New()
	h.Write(data)
	if collisionCount != nil && *collisionCount > 0 {
		var salt [4]byte
		binary.BigEndian.PutUint32(salt[:], uint32(*collisionCount))
		h.Write(salt[:])
	}
	return hex.EncodeToString(h.Sum(nil))[:hashLength]
}

// Name is the name of the revision with the given hash: "<sidecarset>-<hash>". A ControllerRevision name is a
// DNS subdomain of at most 253 characters, so a SidecarSet name longer than 242 characters is shortened.
func Name(sidecarSet, hash string) string {
	const maxPrefix = 253 - 1 - hashLength
	if len(sidecarSet) > maxPrefix {
		sidecarSet = sidecarSet[:maxPrefix]
	}
	return sidecarSet + "-" + hash
}

// For returns the revision name of a SidecarSet's current spec.
func For(set *appsv1alpha1.SidecarSet) string {
	return Name(set.Name, Hash(InjectedOf(&set.Spec), set.Status.CollisionCount))
}

// Spec returns a SidecarSet spec holding only the injected content, for injecting a stored revision.
func (in Injected) Spec() *appsv1alpha1.SidecarSetSpec {
	return &appsv1alpha1.SidecarSetSpec{
		Containers:       in.Containers,
		InitContainers:   in.InitContainers,
		Volumes:          in.Volumes,
		ImagePullSecrets: in.ImagePullSecrets,
		PatchPodMetadata: in.PatchPodMetadata,
	}
}
