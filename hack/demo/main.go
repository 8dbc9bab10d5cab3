// Command demo shows what sidecarset-operator does, on a local cluster it starts itself (make demo): it
// installs the operator as its users would, applies a SidecarSet and a sample workload, shows the sidecars
// injected, then changes the sidecar's image and shows the rollout in place, live, and that no app container
// restarted. It then stays up, printing the kubeconfig and commands to try, until interrupted.
//
//	make demo                     # stays up until Ctrl-C
//	make demo DEMO_ARGS=--exit    # exits 0 once the rollout completed (CI)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

const (
	namespace  = "demo"
	sampleFile = "config/samples/apps_v1alpha1_sidecarset_log_shipper.yaml"
	sidecar    = "fluent-bit"
	newImage   = "cr.fluentbit.io/fluent/fluent-bit:3.2.5"
)

var podLabels = map[string]string{"log-shipping": "enabled"}

func main() {
	exit := flag.Bool("exit", false, "Exit once the rollout completed (status 0) or failed (status 1), instead of staying up.")
	binary := flag.String("operator", "bin/sidecarset-operator", "The operator binary to run.")
	dir := flag.String("dir", "", "Directory for the cluster's kubeconfig and logs (default: a new temporary directory).")
	restartDelay := flag.Duration("restart-delay", time.Second, "How long a simulated kubelet takes to restart a container on a new image.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *binary, *dir, *restartDelay, *exit); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(ctx context.Context, binary, dir string, restartDelay time.Duration, exitWhenDone bool) error {
	start := time.Now()
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "sidecarset-demo-"); err != nil {
			return err
		}
	}
	step("Starting a local cluster: the Kubernetes API server, controller-manager and scheduler, and 4 simulated nodes (kwok)")
	local, err := localcluster.Start(ctx, localcluster.Options{Dir: dir, Nodes: 4, RestartDelay: restartDelay, Progress: os.Stdout})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("\nStopping the local cluster")
		_ = local.Stop()
	}()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := appsv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.New(local.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	kubectl := func(args ...string) {
		fmt.Printf("$ kubectl %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"), append([]string{"--kubeconfig", local.Kubeconfig}, args...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		_ = cmd.Run()
	}

	step("Installing the operator as its users do: the CRD and RBAC from config/, the operator as its own ServiceAccount")
	if err := local.Install(ctx, "."); err != nil {
		return err
	}
	operator, err := local.StartOperator(ctx, binary)
	if err != nil {
		return err
	}
	defer func() { _ = operator.Stop() }()
	fmt.Printf("Operator running (pid %d), log: %s\n", operator.Pid(), operator.LogPath)

	step("Applying the SidecarSet %s: a fluent-bit log shipper for every pod labelled log-shipping=enabled", sampleFile)
	objs, err := localcluster.ReadObjects(sampleFile)
	if err != nil {
		return err
	}
	if len(objs) != 1 {
		return fmt.Errorf("%s: want one SidecarSet, found %d objects", sampleFile, len(objs))
	}
	if err := c.Create(ctx, objs[0]); err != nil {
		return fmt.Errorf("creating the SidecarSet: %w", err)
	}
	setName := objs[0].GetName()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "probe", Labels: podLabels}, Spec: podSpec()}
	if err := localcluster.WaitInjecting(ctx, c, probe, 30*time.Second); err != nil {
		return err
	}

	step("Creating a Deployment of 20 pods and a StatefulSet of 5, which know nothing about sidecars")
	if err := createWorkloads(ctx, c); err != nil {
		return err
	}
	pods, err := waitPods(ctx, c, 25)
	if err != nil {
		return err
	}
	before := map[string]types.UID{}
	for _, p := range pods {
		before[p.Name] = p.UID
	}
	fmt.Printf("%d pods running, each with the sidecar the webhook injected:\n", len(pods))
	kubectl("get", "pods", "-n", namespace, "-l", "app=web", "--sort-by=.metadata.name", "-o",
		"custom-columns=POD:.metadata.name,CONTAINERS:.spec.containers[*].name,SIDECAR IMAGE:.spec.containers[0].image,READY:.status.conditions[?(@.type=='Ready')].status")
	kubectl("get", "sidecarset", setName)

	var set appsv1alpha1.SidecarSet
	if err := c.Get(ctx, types.NamespacedName{Name: setName}, &set); err != nil {
		return err
	}
	batch := 1
	if mu := set.Spec.UpdateStrategy.MaxUnavailable; mu != nil {
		if batch, err = intstr.GetScaledValueFromIntOrPercent(mu, 25, false); err != nil || batch < 1 {
			batch = 1
		}
	}
	step("Changing the sidecar's image to %s: the operator updates it in place, %d pods at a time (maxUnavailable)", newImage, batch)
	patch := client.MergeFrom(set.DeepCopy())
	set.Spec.Containers[0].Image = newImage
	if err := c.Patch(ctx, &set, patch); err != nil {
		return err
	}
	took, err := watchRollout(ctx, c, setName, set.Generation, 25, batch, restartDelay)
	if err != nil {
		return err
	}

	after, err := waitPods(ctx, c, 25)
	if err != nil {
		return err
	}
	recreated, appRestarts, sidecarRestarts := 0, int32(0), int32(0)
	for _, p := range after {
		if before[p.Name] != p.UID {
			recreated++
		}
		for _, st := range p.Status.ContainerStatuses {
			if st.Name == sidecar {
				sidecarRestarts += st.RestartCount
			} else {
				appRestarts += st.RestartCount
			}
		}
	}
	fmt.Printf("Rolled out to 25 pods in %.1fs. Pods recreated: %d. App container restarts: %d. Sidecar restarts: %d (one each).\n",
		took.Seconds(), recreated, appRestarts, sidecarRestarts)
	kubectl("get", "sidecarset", setName, "-o", "wide")
	if recreated != 0 || appRestarts != 0 || sidecarRestarts != 25 {
		return errors.New("the rollout touched more than the sidecars")
	}

	fmt.Printf("\nThe demo took %s.\n", time.Since(start).Round(time.Second))
	if exitWhenDone {
		return nil
	}
	step("The cluster stays up until you press Ctrl-C. Try:")
	fmt.Printf(`  export KUBECONFIG=%s PATH=%s:$PATH   # the cluster, and the kubectl built with it
  kubectl get sidecarsets                                  # MATCHED, UPDATED, READY, DRIFTED
  kubectl describe sidecarset %s                  # conditions and rollout events
  kubectl get pod -n %s -l app=web -o yaml | grep -A3 sidecarset.io/state
  kubectl patch sidecarset %s --type merge -p '{"spec":{"updateStrategy":{"paused":true}}}'
  kubectl edit sidecarset %s                      # change the image again and watch 'kubectl get scs -w'
  kubectl scale deployment web -n %s --replicas 30      # new pods get the latest sidecar
Operator log: %s
`, local.Kubeconfig, os.Getenv("KUBEBUILDER_ASSETS"), setName, namespace, setName, setName, namespace, operator.LogPath)
	<-ctx.Done()
	return nil
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "example.com/shop/web:1.0",
			Env: []corev1.EnvVar{{Name: "APP_NAME", Value: "shop"}}}},
		TerminationGracePeriodSeconds: ptr.To[int64](0),
	}
}

func createWorkloads(ctx context.Context, c client.Client) error {
	labels := func(app string) map[string]string {
		return map[string]string{"app": app, "log-shipping": "enabled"}
	}
	template := func(app string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(app)}, Spec: podSpec()}
	}
	web := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](20), Selector: &metav1.LabelSelector{MatchLabels: labels("web")},
			Template: template("web")},
	}
	db := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](5), Selector: &metav1.LabelSelector{MatchLabels: labels("db")},
			Template: template("db"), PodManagementPolicy: appsv1.ParallelPodManagement},
	}
	for _, o := range []client.Object{web, db} {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %s: %w", o.GetName(), err)
		}
	}
	return nil
}

// waitPods waits until n pods of the demo run ready, and returns them.
func waitPods(ctx context.Context, c client.Client, n int) ([]corev1.Pod, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var list corev1.PodList
		if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return nil, err
		}
		ready := 0
		for i := range list.Items {
			if localcluster.PodReady(&list.Items[i]) {
				ready++
			}
		}
		if len(list.Items) == n && ready == n {
			sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
			return list.Items, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d pods ready after 2 minutes", ready, n)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// watchRollout draws the rollout from the SidecarSet's status until it is Ready at generation, and says how
// long it took.
func watchRollout(ctx context.Context, c client.Client, name string, generation int64, total, batch int, restartDelay time.Duration) (time.Duration, error) {
	start := time.Now()
	tty := isTerminal()
	last := ""
	for {
		var set appsv1alpha1.SidecarSet
		if err := c.Get(ctx, types.NamespacedName{Name: name}, &set); err != nil {
			return 0, err
		}
		st := set.Status
		current := st.ObservedGeneration >= generation
		updated := int32(0)
		if current {
			updated = st.UpdatedReadyPods
		}
		const width = 25
		filled := int(updated) * width / total
		line := fmt.Sprintf("[%s%s] %2d/%d pods updated and ready, %d not ready   %5.1fs",
			strings.Repeat("#", filled), strings.Repeat(".", width-filled), updated, total, st.MatchedPods-st.ReadyPods,
			time.Since(start).Seconds())
		if tty {
			fmt.Printf("\r%s", line)
		} else if line[:40] != last {
			fmt.Println(line)
			last = line[:40]
		}
		ready := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionReady)
		if current && ready != nil && ready.Status == metav1.ConditionTrue && int(updated) == total {
			if tty {
				fmt.Println()
			}
			took := time.Since(start)
			batches := (total + batch - 1) / batch
			fmt.Printf("Done: %d batches of %d, each waiting for the kubelets to restart the sidecar (%s here): %s at the least.\n",
				batches, batch, restartDelay, time.Duration(batches)*restartDelay)
			return took, nil
		}
		if stalled := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionStalled); current && stalled != nil {
			fmt.Println()
			return 0, fmt.Errorf("the rollout stalled: %s: %s", stalled.Reason, stalled.Message)
		}
		if time.Since(start) > 3*time.Minute {
			fmt.Println()
			return 0, errors.New("the rollout did not finish within 3 minutes")
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
