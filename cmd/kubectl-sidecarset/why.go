package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/cli"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

func newWhyCommand(o *options) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:   "why POD",
		Short: "Explain which SidecarSets select a pod, and why each injected it or not",
		Long: `Explain, for each SidecarSet whose selector matches the pod's labels or that the pod records in its
sidecarset.io/state annotation: whether its sidecars are in the pod and why (injected at creation, opted out
with the label sidecarset.io/inject=false, namespace not selected, injection paused, a sidecar's name taken by
a named container, skipped at injection and why, created before the SidecarSet), the revision the pod runs
and whether it drifted from the latest one, and why.`,
		Example: `  kubectl sidecarset why web-7d9f8b-x2x9q -n shop
  kubectl sidecarset why web-7d9f8b-x2x9q -n shop -o yaml`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return o.completePods(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := o.Client()
			if err != nil {
				return err
			}
			namespace, _, err := o.Namespace()
			if err != nil {
				return err
			}
			pod := &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: args[0]}, pod); err != nil {
				return err
			}
			ns := &corev1.Namespace{}
			if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
				return err
			}
			var sets appsv1alpha1.SidecarSetList
			if err := c.List(ctx, &sets); err != nil {
				return err
			}
			crs, err := o.revisions(ctx, "")
			if err != nil {
				return err
			}
			stored := map[string][]revision.Stored{}
			for i := range sets.Items {
				stored[sets.Items[i].Name], _ = cli.StoredOf(&sets.Items[i], crs)
			}
			e, err := cli.Why(pod, sets.Items, stored, ns.Labels, o.operatorNamespace, time.Now())
			if err != nil {
				return err
			}
			if done, err := out.structured(o.Out, e); done {
				return err
			}
			return cli.WriteExplanation(o.Out, e)
		},
	}
	out.addFlag(cmd, false)
	return cmd
}

// completePods completes a pod name of the namespace of -n.
func (o *options) completePods(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := o.Client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	namespace, _, err := o.Namespace()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	if err := c.List(cmd.Context(), &list, client.InNamespace(namespace)); err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []cobra.Completion
	for _, item := range list.Items {
		if strings.HasPrefix(item.Name, toComplete) {
			names = append(names, item.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
