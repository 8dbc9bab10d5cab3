package revision

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

func specFrom(t *testing.T, manifest string) *appsv1alpha1.SidecarSetSpec {
	t.Helper()
	spec := &appsv1alpha1.SidecarSetSpec{}
	if err := yaml.UnmarshalStrict([]byte(manifest), spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

const base = `
selector: {matchLabels: {app: web}}
containers:
- name: shipper
  image: shipper:1.0
  env: [{name: LEVEL, value: info}]
volumes:
- name: logs
  emptyDir: {}
patchPodMetadata:
- labels: {team: platform, tier: infra}
  annotations: {a: "1", b: "2"}
`

func TestHash(t *testing.T) {
	h := func(manifest string) string { return Hash(InjectedOf(specFrom(t, manifest)), nil) }
	baseHash := h(base)
	if len(baseHash) != hashLength {
		t.Fatalf("hash %q has %d characters, want %d", baseHash, len(baseHash), hashLength)
	}
	if again := h(base); again != baseHash {
		t.Errorf("the same spec hashed twice gave %s and %s", baseHash, again)
	}

	tests := []struct {
		name     string
		manifest string
		same     bool
	}{
		{"map keys in another order", strings.NewReplacer(
			"{team: platform, tier: infra}", "{tier: infra, team: platform}",
			`{a: "1", b: "2"}`, `{b: "2", a: "1"}`).Replace(base), true},
		{"another selector", strings.Replace(base, "app: web", "app: api", 1), true},
		{"an update strategy", base + "updateStrategy: {maxUnavailable: 3, paused: true}\n", true},
		{"only the image changed", strings.Replace(base, "shipper:1.0", "shipper:1.1", 1), false},
		{"an env value changed", strings.Replace(base, "value: info", "value: debug", 1), false},
		{"a volume changed", strings.Replace(base, "emptyDir: {}", "emptyDir: {medium: Memory}", 1), false},
		{"a label value changed", strings.Replace(base, "team: platform", "team: core", 1), false},
		{"a pull secret added", base + "imagePullSecrets: [{name: registry}]\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h(tt.manifest)
			if (got == baseHash) != tt.same {
				t.Errorf("hash %s vs base %s: want same=%v", got, baseHash, tt.same)
			}
		})
	}
}

func TestHashIsSaltedByCollisionCount(t *testing.T) {
	in := InjectedOf(specFrom(t, base))
	zero, one, two := int32(0), int32(1), int32(2)
	if Hash(in, nil) != Hash(in, &zero) {
		t.Error("a collision count of 0 must not change the hash")
	}
	if Hash(in, &one) == Hash(in, nil) || Hash(in, &one) == Hash(in, &two) {
		t.Error("each collision count must give another hash")
	}
}

func TestName(t *testing.T) {
	if got := Name("log-shipper", "0123456789"); got != "log-shipper-0123456789" {
		t.Errorf("Name = %s", got)
	}
	long := strings.Repeat("a", 253)
	if got := Name(long, "0123456789"); len(got) != 253 || !strings.HasSuffix(got, "-0123456789") {
		t.Errorf("a long name gave %d characters: %s", len(got), got)
	}
	set := &appsv1alpha1.SidecarSet{Spec: *specFrom(t, base)}
	set.Name = "log-shipper"
	if got, want := For(set), "log-shipper-"+Hash(InjectedOf(&set.Spec), nil); got != want {
		t.Errorf("For = %s, want %s", got, want)
	}
	set.Spec.Containers[0].Image = "shipper:2.0"
	if For(set) == Name("log-shipper", Hash(InjectedOf(specFrom(t, base)), nil)) {
		t.Error("a new image must give a new revision name")
	}
}
