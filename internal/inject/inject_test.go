package inject

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/fixture"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

// sidecars builds one SidecarSet's injection at revision "<name>-r1" from a YAML spec.
func sidecars(t testing.TB, name, spec string) Sidecars {
	t.Helper()
	return Sidecars{SidecarSet: name, Revision: name + "-r1", Spec: fixture.Spec(t, spec)}
}

func names(cs []corev1.Container) string {
	return fixture.Names(cs, func(c corev1.Container) string { return c.Name })
}

func container(p *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		if i := slices.IndexFunc(list, func(c corev1.Container) bool { return c.Name == name }); i >= 0 {
			return &list[i]
		}
	}
	return nil
}

func state(t testing.TB, p *corev1.Pod) podstate.State {
	t.Helper()
	s, err := podstate.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const appPod = `
metadata:
  name: web-1
  namespace: shop
  labels: {app: web, team: shop}
  annotations: {owner: shop-team}
spec:
  initContainers:
  - name: migrate
    image: migrate:1
  containers:
  - name: app
    image: web:1
    env: [{name: APP_NAME, value: web}, {name: DB_URL, valueFrom: {secretKeyRef: {name: db, key: url}}}]
    volumeMounts: [{name: data, mountPath: /data}, {name: logs, mountPath: /var/log/app}]
  volumes:
  - name: data
    emptyDir: {}
  - name: logs
    emptyDir: {}
  imagePullSecrets: [{name: app-registry}]
`

const shipper = `
selector: {matchLabels: {app: web}}
containers:
- name: shipper
  image: shipper:1
  volumeMounts: [{name: shipper-config, mountPath: /etc/shipper}]
volumes:
- name: shipper-config
  configMap: {name: shipper}
- name: unused
  emptyDir: {}
`

func TestInject(t *testing.T) {
	tests := []struct {
		name  string
		pod   string
		sets  func(t testing.TB) []Sidecars
		check func(t *testing.T, got *corev1.Pod, res []Result)
	}{
		{
			name: "a sidecar container goes before the app containers by default",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars { return []Sidecars{sidecars(t, "logs", shipper)} },
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				if n := names(got.Spec.Containers); n != "shipper,app" {
					t.Errorf("containers = %s", n)
				}
				if !slices.Equal(res[0].Injected, []string{"shipper"}) || res[0].Revision != "logs-r1" {
					t.Errorf("result = %+v", res[0])
				}
			},
		},
		{
			name: "AfterAppContainers puts the sidecar last",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "metrics", `
selector: {matchLabels: {app: web}}
containers: [{name: agent, image: agent:1, podInjectPolicy: AfterAppContainers}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if n := names(got.Spec.Containers); n != "app,agent" {
					t.Errorf("containers = %s", n)
				}
			},
		},
		{
			name: "a native sidecar goes before the app's init containers",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "mesh", `
selector: {matchLabels: {app: web}}
initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if n := names(got.Spec.InitContainers); n != "proxy,migrate" {
					t.Errorf("initContainers = %s", n)
				}
				if n := names(got.Spec.Containers); n != "app" {
					t.Errorf("containers = %s", n)
				}
			},
		},
		{
			name: "a classic init container goes after the app's init containers",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "certs", `
selector: {matchLabels: {app: web}}
initContainers: [{name: fetch-certs, image: certs:1}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if n := names(got.Spec.InitContainers); n != "migrate,fetch-certs" {
					t.Errorf("initContainers = %s", n)
				}
			},
		},
		{
			name: "a classic init container can be asked to go first",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "certs", `
selector: {matchLabels: {app: web}}
initContainers: [{name: fetch-certs, image: certs:1, podInjectPolicy: BeforeAppContainers}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if n := names(got.Spec.InitContainers); n != "fetch-certs,migrate" {
					t.Errorf("initContainers = %s", n)
				}
			},
		},
		{
			name: "a native sidecar can be asked to go after the app's init containers",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "mesh", `
selector: {matchLabels: {app: web}}
initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always, podInjectPolicy: AfterAppContainers}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if n := names(got.Spec.InitContainers); n != "migrate,proxy" {
					t.Errorf("initContainers = %s", n)
				}
			},
		},
		{
			name: "init containers are added to a pod that has none",
			pod:  `{spec: {containers: [{name: app, image: web:1}]}}`,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "mesh", `
selector: {matchLabels: {app: web}}
initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always}, {name: setup, image: setup:1}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if n := names(got.Spec.InitContainers); n != "proxy,setup" {
					t.Errorf("initContainers = %s", n)
				}
			},
		},
		{
			name: "only the volumes a sidecar mounts are added",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars { return []Sidecars{sidecars(t, "logs", shipper)} },
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if vs := fixture.Names(got.Spec.Volumes, func(v corev1.Volume) string { return v.Name }); vs != "data,logs,shipper-config" {
					t.Errorf("volumes = %s", vs)
				}
			},
		},
		{
			name: "a volume used as a device is added",
			pod:  `{spec: {containers: [{name: app, image: web:1}]}}`,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "raw", `
selector: {matchLabels: {app: web}}
containers: [{name: reader, image: r:1, volumeDevices: [{name: block, devicePath: /dev/xvda}]}]
volumes: [{name: block, persistentVolumeClaim: {claimName: block}}, {name: other, emptyDir: {}}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if len(got.Spec.Volumes) != 1 || got.Spec.Volumes[0].Name != "block" {
					t.Errorf("volumes = %+v", got.Spec.Volumes)
				}
			},
		},
		{
			name: "the pod's own volume of the same name wins",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", `
selector: {matchLabels: {app: web}}
containers: [{name: shipper, image: shipper:1, volumeMounts: [{name: logs, mountPath: /logs}]}]
volumes: [{name: logs, hostPath: {path: /var/log}}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if len(got.Spec.Volumes) != 2 || got.Spec.Volumes[1].EmptyDir == nil || got.Spec.Volumes[1].HostPath != nil {
					t.Errorf("volumes = %+v", got.Spec.Volumes)
				}
			},
		},
		{
			name: "shareVolumePolicy Enabled mounts the app's volume mounts into the sidecar",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", `
selector: {matchLabels: {app: web}}
containers: [{name: shipper, image: shipper:1, shareVolumePolicy: Enabled}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				c := container(got, "shipper")
				if len(c.VolumeMounts) != 2 || c.VolumeMounts[0].MountPath != "/data" || c.VolumeMounts[1].MountPath != "/var/log/app" {
					t.Errorf("mounts = %+v", c.VolumeMounts)
				}
			},
		},
		{
			name: "shared mounts never duplicate a path the sidecar mounts itself",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", `
selector: {matchLabels: {app: web}}
containers: [{name: shipper, image: shipper:1, shareVolumePolicy: Enabled, volumeMounts: [{name: own, mountPath: /data}]}]
volumes: [{name: own, emptyDir: {}}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				c := container(got, "shipper")
				if len(c.VolumeMounts) != 2 || c.VolumeMounts[0].Name != "own" || c.VolumeMounts[1].Name != "logs" {
					t.Errorf("mounts = %+v", c.VolumeMounts)
				}
			},
		},
		{
			name: "shareVolumePolicy Disabled mounts nothing of the app's",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars { return []Sidecars{sidecars(t, "logs", shipper)} },
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if c := container(got, "shipper"); len(c.VolumeMounts) != 1 {
					t.Errorf("mounts = %+v", c.VolumeMounts)
				}
			},
		},
		{
			name: "a sidecar gets the service account token mount the app containers have",
			pod: `
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  containers:
  - name: app
    image: web:1
    volumeMounts: [{name: kube-api-access-x1, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}]
  volumes: [{name: kube-api-access-x1, projected: {sources: [{serviceAccountToken: {path: token}}]}}]`,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", `
selector: {matchLabels: {app: web}}
containers:
- {name: agent, image: agent:1}
- {name: own-token, image: agent:1, volumeMounts: [{name: mine, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}]}
volumes: [{name: mine, emptyDir: {}}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				want := corev1.VolumeMount{Name: "kube-api-access-x1", MountPath: ServiceAccountTokenPath, ReadOnly: true}
				if c := container(got, "agent"); len(c.VolumeMounts) != 1 || !equality.Semantic.DeepEqual(c.VolumeMounts[0], want) {
					t.Errorf("agent mounts = %+v, want the token mount", c.VolumeMounts)
				}
				if c := container(got, "own-token"); len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != "mine" {
					t.Errorf("own-token mounts = %+v, want only its own mount at the token path", c.VolumeMounts)
				}
			},
		},
		{
			name: "no token mount for a pod whose app containers have none (automountServiceAccountToken: false)",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars { return []Sidecars{sidecars(t, "logs", shipper)} },
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				for _, m := range container(got, "shipper").VolumeMounts {
					if m.MountPath == ServiceAccountTokenPath {
						t.Errorf("mounts = %+v", container(got, "shipper").VolumeMounts)
					}
				}
			},
		},
		{
			name: "transferEnv copies a value and a valueFrom from an app container",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", `
selector: {matchLabels: {app: web}}
containers: [{name: shipper, image: shipper:1, env: [{name: LEVEL, value: info}],
  transferEnv: [{sourceContainerName: app, envName: APP_NAME}, {sourceContainerName: app, envName: DB_URL}]}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				env := container(got, "shipper").Env
				if len(env) != 3 || env[1].Value != "web" || env[2].ValueFrom.SecretKeyRef.Name != "db" {
					t.Errorf("env = %+v", env)
				}
				if len(res[0].Warnings) != 0 {
					t.Errorf("warnings = %v", res[0].Warnings)
				}
			},
		},
		{
			name: "transferEnv from a missing container or variable is skipped with a warning",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", `
selector: {matchLabels: {app: web}}
containers: [{name: shipper, image: shipper:1,
  transferEnv: [{sourceContainerName: worker, envName: APP_NAME}, {sourceContainerName: app, envName: MISSING}]}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				if env := container(got, "shipper").Env; len(env) != 0 {
					t.Errorf("env = %+v", env)
				}
				want := []string{
					`transferEnv of APP_NAME to sidecar "shipper" skipped: the pod has no container "worker"`,
					`transferEnv of MISSING to sidecar "shipper" skipped: container "app" has no variable MISSING`,
				}
				if !slices.Equal(res[0].Warnings, want) {
					t.Errorf("warnings = %q", res[0].Warnings)
				}
				if !slices.Equal(res[0].Injected, []string{"shipper"}) {
					t.Errorf("the sidecar must still be injected: %+v", res[0])
				}
			},
		},
		{
			name: "transferEnv never overrides a variable the sidecar sets itself",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", `
selector: {matchLabels: {app: web}}
containers: [{name: shipper, image: shipper:1, env: [{name: APP_NAME, value: mine}],
  transferEnv: [{sourceContainerName: app, envName: APP_NAME}]}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if env := container(got, "shipper").Env; len(env) != 1 || env[0].Value != "mine" {
					t.Errorf("env = %+v", env)
				}
			},
		},
		{
			name: "image pull secrets are added once",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", shipper+"imagePullSecrets: [{name: app-registry}, {name: shipper-registry}]\n")}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				s := got.Spec.ImagePullSecrets
				if len(s) != 2 || s[0].Name != "app-registry" || s[1].Name != "shipper-registry" {
					t.Errorf("imagePullSecrets = %+v", s)
				}
			},
		},
		{
			name: "two SidecarSets sharing a pull secret add it once",
			pod:  `{spec: {containers: [{name: app, image: web:1}]}}`,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{
					sidecars(t, "a", "containers: [{name: a, image: a:1}]\nimagePullSecrets: [{name: shared}]"),
					sidecars(t, "b", "containers: [{name: b, image: b:1}]\nimagePullSecrets: [{name: shared}]"),
				}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if len(got.Spec.ImagePullSecrets) != 1 {
					t.Errorf("imagePullSecrets = %+v", got.Spec.ImagePullSecrets)
				}
			},
		},
		{
			name: "patchPodMetadata Retain keeps the pod's own values",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", shipper+`patchPodMetadata:
- labels: {team: platform, logging: enabled}
  annotations: {owner: platform, shipper: "true"}
  policy: Retain`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if got.Labels["team"] != "shop" || got.Labels["logging"] != "enabled" {
					t.Errorf("labels = %v", got.Labels)
				}
				if got.Annotations["owner"] != "shop-team" || got.Annotations["shipper"] != "true" {
					t.Errorf("annotations = %v", got.Annotations)
				}
			},
		},
		{
			name: "patchPodMetadata Overwrite replaces the pod's values",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", shipper+`patchPodMetadata:
- labels: {team: platform}
  annotations: {owner: platform}
  policy: Overwrite`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if got.Labels["team"] != "platform" || got.Annotations["owner"] != "platform" || got.Labels["app"] != "web" {
					t.Errorf("labels = %v, annotations = %v", got.Labels, got.Annotations)
				}
			},
		},
		{
			name: "patchPodMetadata adds labels to a pod without any",
			pod:  `{spec: {containers: [{name: app, image: web:1}]}}`,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "logs", "containers: [{name: s, image: s:1}]\npatchPodMetadata: [{labels: {logging: enabled}}]")}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				if got.Labels["logging"] != "enabled" {
					t.Errorf("labels = %v", got.Labels)
				}
			},
		},
		{
			name: "the state annotation records the revision and each sidecar's image",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "mesh", `
containers: [{name: shipper, image: shipper:1}]
initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, _ []Result) {
				want := `{"mesh":{"revision":"mesh-r1","images":{"proxy":"proxy:1","shipper":"shipper:1"}}}`
				if a := got.Annotations[appsv1alpha1.StateAnnotation]; a != want {
					t.Errorf("state = %s", a)
				}
				if got.Annotations["owner"] != "shop-team" {
					t.Errorf("the pod's own annotations must stay: %v", got.Annotations)
				}
			},
		},
		{
			name: "two SidecarSets apply in name order whatever order they come in",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{
					sidecars(t, "zeta", "containers: [{name: z, image: z:1}]"),
					sidecars(t, "alpha", "containers: [{name: a, image: a:1}]"),
				}
			},
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				if n := names(got.Spec.Containers); n != "a,z,app" {
					t.Errorf("containers = %s", n)
				}
				if res[0].SidecarSet != "alpha" || res[1].SidecarSet != "zeta" {
					t.Errorf("results in order %s, %s", res[0].SidecarSet, res[1].SidecarSet)
				}
				if s := state(t, got); len(s) != 2 || s["alpha"].Revision != "alpha-r1" || s["zeta"].Revision != "zeta-r1" {
					t.Errorf("state = %v", s)
				}
			},
		},
		{
			name: "a sidecar named like an app container is skipped and reported",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "bad", "containers: [{name: app, image: evil:1}, {name: ok, image: ok:1}]")}
			},
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				if n := names(got.Spec.Containers); n != "ok,app" {
					t.Errorf("containers = %s", n)
				}
				if container(got, "app").Image != "web:1" {
					t.Errorf("the app container was overwritten")
				}
				want := []Conflict{{Sidecar: "app"}}
				if !slices.Equal(res[0].Conflicts, want) {
					t.Errorf("conflicts = %+v", res[0].Conflicts)
				}
				if msg := res[0].Messages(); len(msg) != 1 || msg[0] != `SidecarSet bad: sidecar "app" was not injected: the pod already has a container named "app"` {
					t.Errorf("messages = %q", msg)
				}
				if s := state(t, got)["bad"]; !slices.Equal(s.Conflicts, []string{"app"}) || s.Images["ok"] != "ok:1" {
					t.Errorf("state = %+v", s)
				}
			},
		},
		{
			name: "a sidecar named like an app init container is skipped",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "bad", "containers: [{name: migrate, image: evil:1}]")}
			},
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				if n := names(got.Spec.Containers); n != "app" || len(res[0].Conflicts) != 1 {
					t.Errorf("containers = %s, result = %+v", n, res[0])
				}
			},
		},
		{
			name: "a sidecar named like another SidecarSet's sidecar is skipped; the first by name wins",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{
					sidecars(t, "b-logs", "containers: [{name: shipper, image: b:1}]"),
					sidecars(t, "a-logs", "containers: [{name: shipper, image: a:1}]"),
				}
			},
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				if n := names(got.Spec.Containers); n != "shipper,app" || container(got, "shipper").Image != "a:1" {
					t.Errorf("containers = %s, shipper = %s", n, container(got, "shipper").Image)
				}
				if want := []Conflict{{Sidecar: "shipper", Owner: "a-logs"}}; !slices.Equal(res[1].Conflicts, want) {
					t.Errorf("conflicts = %+v", res[1].Conflicts)
				}
			},
		},
		{
			name: "a SidecarSet whose every sidecar conflicts adds no volume, secret or metadata",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "bad", `
containers: [{name: app, image: evil:1, volumeMounts: [{name: v, mountPath: /v}]}]
volumes: [{name: v, emptyDir: {}}]
imagePullSecrets: [{name: other}]
patchPodMetadata: [{labels: {evil: "true"}}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				if len(got.Spec.Volumes) != 2 || len(got.Spec.ImagePullSecrets) != 1 || got.Labels["evil"] != "" {
					t.Errorf("pod changed: %+v", got.Spec)
				}
				if s := state(t, got)["bad"]; s.Revision != "bad-r1" || len(s.Images) != 0 {
					t.Errorf("state must record the attempt: %+v", s)
				}
			},
		},
		{
			name: "a pod already carrying a sidecar of the same name from an earlier injection is left alone",
			pod: `
metadata:
  annotations: {sidecarset.io/state: '{"logs":{"revision":"logs-r0","images":{"shipper":"shipper:0"}}}'}
spec:
  containers: [{name: shipper, image: shipper:0}, {name: app, image: web:1}]`,
			sets: func(t testing.TB) []Sidecars { return []Sidecars{sidecars(t, "logs", shipper)} },
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				if !res[0].AlreadyInjected || container(got, "shipper").Image != "shipper:0" || len(got.Spec.Containers) != 2 {
					t.Errorf("result = %+v, containers = %+v", res[0], got.Spec.Containers)
				}
			},
		},
		{
			name: "a new SidecarSet on a pod injected by another one treats the injected sidecars as not the app's",
			pod: `
metadata:
  annotations: {sidecarset.io/state: '{"logs":{"revision":"logs-r1","images":{"shipper":"shipper:1"}}}'}
spec:
  containers:
  - {name: shipper, image: shipper:1, volumeMounts: [{name: cfg, mountPath: /etc/shipper}], env: [{name: APP_NAME, value: shipper}]}
  - {name: app, image: web:1, volumeMounts: [{name: data, mountPath: /data}]}`,
			sets: func(t testing.TB) []Sidecars {
				return []Sidecars{sidecars(t, "zz-metrics", `
containers: [{name: agent, image: agent:1, shareVolumePolicy: Enabled, transferEnv: [{sourceContainerName: shipper, envName: APP_NAME}]}]`)}
			},
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				c := container(got, "agent")
				if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != "data" {
					t.Errorf("the agent must share only the app's mounts: %+v", c.VolumeMounts)
				}
				if len(c.Env) != 0 || len(res[0].Warnings) != 1 {
					t.Errorf("transferEnv must not take from another sidecar: env %+v, warnings %q", c.Env, res[0].Warnings)
				}
				if n := names(got.Spec.Containers); n != "agent,shipper,app" {
					t.Errorf("containers = %s", n)
				}
			},
		},
		{
			name: "no SidecarSets leave the pod as it was",
			pod:  appPod,
			sets: func(t testing.TB) []Sidecars { return nil },
			check: func(t *testing.T, got *corev1.Pod, res []Result) {
				if len(res) != 0 || got.Annotations[appsv1alpha1.StateAnnotation] != "" {
					t.Errorf("result %+v, annotations %v", res, got.Annotations)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixture.Pod(t, tt.pod)
			original := in.DeepCopy()
			sets := tt.sets(t)
			setsBefore := make([]*appsv1alpha1.SidecarSetSpec, len(sets))
			for i := range sets {
				setsBefore[i] = sets[i].Spec.DeepCopy()
			}

			got, res, err := Inject(in, sets)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got, res)

			if !equality.Semantic.DeepEqual(in, original) {
				t.Error("Inject modified its input pod")
			}
			for i := range sets {
				if !equality.Semantic.DeepEqual(sets[i].Spec, setsBefore[i]) {
					t.Errorf("Inject modified SidecarSet %s", sets[i].SidecarSet)
				}
			}
			assertAppUntouched(t, original, got)

			again, res2, err := Inject(got, sets)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(again, got) {
				t.Error("injecting an injected pod changed it")
			}
			for _, r := range res2 {
				if !r.AlreadyInjected {
					t.Errorf("second injection of %s was not a no-op: %+v", r.SidecarSet, r)
				}
			}
			assertPatchReproduces(t, original, got)
			// Last: it scribbles over the injected pod.
			assertNoSharedMemory(t, got, sets, setsBefore)
		})
	}
}

// assertNoSharedMemory scribbles over the injected pod's containers and volumes and checks the
// SidecarSets are unchanged: an injected container, volume or env var must never share memory with the spec
// it came from (the webhook's SidecarSets are the informer cache's own objects).
func assertNoSharedMemory(t testing.TB, injected *corev1.Pod, sets []Sidecars, before []*appsv1alpha1.SidecarSetSpec) {
	t.Helper()
	for _, list := range [][]corev1.Container{injected.Spec.InitContainers, injected.Spec.Containers} {
		for i := range list {
			c := &list[i]
			c.Image = "scribbled"
			for j := range c.Env {
				c.Env[j].Value = "scribbled"
				if c.Env[j].ValueFrom != nil && c.Env[j].ValueFrom.SecretKeyRef != nil {
					c.Env[j].ValueFrom.SecretKeyRef.Key = "scribbled"
				}
			}
			for j := range c.VolumeMounts {
				c.VolumeMounts[j].MountPath = "/scribbled"
			}
		}
	}
	for i := range injected.Spec.Volumes {
		if cm := injected.Spec.Volumes[i].ConfigMap; cm != nil {
			cm.Name = "scribbled"
		}
	}
	for i := range sets {
		if !equality.Semantic.DeepEqual(sets[i].Spec, before[i]) {
			t.Errorf("SidecarSet %s shares memory with the injected pod", sets[i].SidecarSet)
		}
	}
}

// assertAppUntouched checks that every container, init container, volume and pull secret of the original pod
// is in the injected pod, unchanged and in the same relative order.
func assertAppUntouched(t testing.TB, original, injected *corev1.Pod) {
	t.Helper()
	subsequence(t, "containers", original.Spec.Containers, injected.Spec.Containers)
	subsequence(t, "initContainers", original.Spec.InitContainers, injected.Spec.InitContainers)
	subsequence(t, "volumes", original.Spec.Volumes, injected.Spec.Volumes)
	subsequence(t, "imagePullSecrets", original.Spec.ImagePullSecrets, injected.Spec.ImagePullSecrets)
	for k, v := range original.Labels {
		if _, ok := injected.Labels[k]; !ok {
			t.Errorf("label %s=%s was removed", k, v)
		}
	}
}

func subsequence[T any](t testing.TB, what string, want, got []T) {
	t.Helper()
	j := 0
	for i := 0; i < len(got) && j < len(want); i++ {
		if equality.Semantic.DeepEqual(got[i], want[j]) {
			j++
		}
	}
	if j != len(want) {
		t.Errorf("%s of the pod were changed, removed or reordered", what)
	}
}

// assertPatchReproduces applies Patch to the original pod's JSON and checks the result is the injected pod.
func assertPatchReproduces(t testing.TB, original, injected *corev1.Pod) {
	t.Helper()
	raw, err := json.Marshal(original)
	if err != nil {
		t.Fatal(err)
	}
	patched := applyPatch(t, raw, Patch(original, injected))
	got := &corev1.Pod{}
	if err := json.Unmarshal(patched, got); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, injected) {
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(injected)
		t.Errorf("the patch does not reproduce the injected pod:\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

func applyPatch(t testing.TB, raw []byte, ops any) []byte {
	t.Helper()
	patchJSON, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatchapply.DecodePatch(patchJSON)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("applying %s: %v", patchJSON, err)
	}
	return out
}

func TestInjectRefusesAnUnreadableState(t *testing.T) {
	p := fixture.Pod(t, `{metadata: {annotations: {sidecarset.io/state: "not json"}}, spec: {containers: [{name: app, image: a}]}}`)
	got, res, err := Inject(p, []Sidecars{sidecars(t, "logs", shipper)})
	if err == nil || !strings.Contains(err.Error(), "sidecarset.io/state") {
		t.Fatalf("err = %v", err)
	}
	if got != p || res != nil {
		t.Error("the pod must come back unchanged")
	}
}

func TestPatchKeepsFieldsTheTypesDoNotKnow(t *testing.T) {
	raw := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"web"},"futureMeta":"x"},
"spec":{"futureSpecField":{"a":1},"containers":[{"name":"app","image":"web:1","futureContainerField":true}]}}`)
	original := &corev1.Pod{}
	if err := json.Unmarshal(raw, original); err != nil {
		t.Fatal(err)
	}
	injected, _, err := Inject(original, []Sidecars{sidecars(t, "logs", shipper+"patchPodMetadata: [{labels: {logging: enabled}}]")})
	if err != nil {
		t.Fatal(err)
	}
	patched := string(applyPatch(t, raw, Patch(original, injected)))
	for _, field := range []string{`"futureMeta":"x"`, `"futureSpecField":{"a":1}`, `"futureContainerField":true`, `"logging":"enabled"`, `"name":"shipper"`} {
		if !strings.Contains(patched, field) {
			t.Errorf("patched pod lacks %s: %s", field, patched)
		}
	}
}

func TestPatchEscapesMapKeys(t *testing.T) {
	original := fixture.Pod(t, `{metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: a}]}}`)
	injected := original.DeepCopy()
	injected.Labels["example.com/team~x"] = "a"
	ops := Patch(original, injected)
	if len(ops) != 1 || ops[0].Path != "/metadata/labels/example.com~1team~0x" {
		t.Errorf("ops = %+v", ops)
	}
}

func TestInjecting(t *testing.T) {
	set := &appsv1alpha1.SidecarSet{}
	if ok, reason := Injecting(set); !ok || reason != "" {
		t.Errorf("a plain SidecarSet: %v, %q", ok, reason)
	}
	set.Spec.InjectionStrategy.Paused = true
	if ok, reason := Injecting(set); ok || reason != "injection is paused" {
		t.Errorf("a paused SidecarSet: %v, %q", ok, reason)
	}
	now := metav1.Now()
	set.DeletionTimestamp = &now
	if ok, reason := Injecting(set); ok || reason != "the SidecarSet is being deleted" {
		t.Errorf("a deleted SidecarSet: %v, %q", ok, reason)
	}
}

func TestOutcome(t *testing.T) {
	for _, tt := range []struct {
		r    Result
		want Outcome
	}{
		{Result{Injected: []string{"a"}}, OutcomeInjected},
		{Result{AlreadyInjected: true}, OutcomeAlreadyInjected},
		{Result{Injected: []string{"a"}, Conflicts: []Conflict{{Sidecar: "b"}}}, OutcomeConflict},
		{Result{Conflicts: []Conflict{{Sidecar: "b"}}}, OutcomeConflict},
		{Result{Skipped: "the pod would be invalid"}, OutcomeSkipped},
	} {
		if got := tt.r.Outcome(); got != tt.want {
			t.Errorf("%+v: Outcome = %s, want %s", tt.r, got, tt.want)
		}
	}
}

func TestExcluded(t *testing.T) {
	tests := []struct {
		namespace string
		labels    map[string]string
		want      string
	}{
		{"shop", map[string]string{"app": "web"}, ""},
		{"shop", map[string]string{"sidecarset.io/inject": "true"}, ""},
		{"shop", map[string]string{"sidecarset.io/inject": "false"}, "the pod opted out with sidecarset.io/inject=false"},
		{"kube-system", nil, "namespace kube-system is never injected"},
		{"sidecarset-system", nil, "the operator's own namespace is never injected"},
	}
	for _, tt := range tests {
		if got := Excluded(tt.namespace, tt.labels, "sidecarset-system"); got != tt.want {
			t.Errorf("Excluded(%s, %v) = %q, want %q", tt.namespace, tt.labels, got, tt.want)
		}
	}
}

func TestMatcher(t *testing.T) {
	spec := func(manifest string) *appsv1alpha1.SidecarSetSpec { return sidecars(t, "s", manifest).Spec }
	prod := map[string]string{"env": "prod"}
	tests := []struct {
		name    string
		spec    *appsv1alpha1.SidecarSetSpec
		pod, ns map[string]string
		want    bool
		wantErr string
	}{
		{"matching labels", spec("selector: {matchLabels: {app: web}}"), map[string]string{"app": "web"}, nil, true, ""},
		{"other labels", spec("selector: {matchLabels: {app: web}}"), map[string]string{"app": "api"}, nil, false, ""},
		{"an expression", spec("selector: {matchExpressions: [{key: app, operator: In, values: [web, api]}]}"), map[string]string{"app": "api"}, nil, true, ""},
		{"an empty selector matches nothing", spec("selector: {}"), map[string]string{"app": "web"}, nil, false, ""},
		{"a namespace selector that matches", spec("selector: {matchLabels: {app: web}}\nnamespaceSelector: {matchLabels: {env: prod}}"), map[string]string{"app": "web"}, prod, true, ""},
		{"a namespace selector that does not", spec("selector: {matchLabels: {app: web}}\nnamespaceSelector: {matchLabels: {env: prod}}"), map[string]string{"app": "web"}, map[string]string{"env": "dev"}, false, ""},
		{"an empty namespace selector matches every namespace", spec("selector: {matchLabels: {app: web}}\nnamespaceSelector: {}"), map[string]string{"app": "web"}, nil, true, ""},
		{"an unparsable selector", spec("selector: {matchExpressions: [{key: app, operator: Inn, values: [web]}]}"), map[string]string{"app": "web"}, nil, false, "selector: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMatcher(tt.spec)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Fatalf("NewMatcher error = %v, want %q", err, tt.wantErr)
			}
			if err == nil && (m.MatchesPod(tt.pod) && m.MatchesNamespace(tt.ns)) != tt.want {
				t.Errorf("Matches = %v, want %v", !tt.want, tt.want)
			}
		})
	}
}
