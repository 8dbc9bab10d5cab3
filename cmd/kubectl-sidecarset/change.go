package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/cli"
)

// The commands that change a SidecarSet: pause, resume, rollback, set image; and history, which lists what
// rollback can go back to.

func newPauseCommand(o *options, pause bool) *cobra.Command {
	verb, done, short := "pause", "paused", "Pause a SidecarSet's rollout: running pods are no longer updated (updateStrategy.paused)"
	if !pause {
		verb, done, short = "resume", "resumed", "Resume a paused rollout (updateStrategy.paused back to false)"
	}
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Long: short + `.

Updates in flight finish; new pods still get the latest revision. A paused SidecarSet is Ready with reason
Paused. The change is a JSON merge patch of updateStrategy.paused alone.`,
		Example:           "  kubectl sidecarset " + verb + " log-shipper",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSidecarSets,
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := o.sidecarSet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if set.Spec.UpdateStrategy.Paused == pause {
				fmt.Fprintf(o.Out, "%s already %s\n", resourceName(set.Name), done)
				return nil
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			if err := c.Patch(cmd.Context(), set, client.RawPatch(types.MergePatchType, cli.PausedPatch(pause))); err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "%s %s\n", resourceName(set.Name), done)
			return nil
		},
	}
}

func newHistoryCommand(o *options) *cobra.Command {
	var (
		out    output
		number int64
	)
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "List a SidecarSet's stored revisions, with their images",
		Long: `List the revisions the operator stored for a SidecarSet (ControllerRevisions of the operator's
namespace, --operator-namespace, labelled sidecarset.io/sidecarset-name=NAME), oldest first: their number,
which rollback --to-revision takes, their name, the matched pods running each, and their sidecars' images.
--revision shows everything one of them injects.`,
		Example: `  kubectl sidecarset history log-shipper
  kubectl sidecarset history log-shipper --revision 2`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSidecarSets,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			set, err := o.sidecarSet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			stored, _, err := o.stored(cmd.Context(), set)
			if err != nil {
				return err
			}
			if number != 0 {
				for _, s := range stored {
					if s.Number == number {
						if done, err := out.structured(o.Out, s.Injected); done {
							return err
						}
						data, err := yaml.Marshal(s.Injected)
						if err != nil {
							return err
						}
						fmt.Fprintf(o.Out, "SidecarSet %s, revision %d (%s):\n%s", set.Name, s.Number, s.Name, data)
						return nil
					}
				}
				return fmt.Errorf("SidecarSet %s has no revision %d", set.Name, number)
			}
			entries := cli.History(set, stored)
			if done, err := out.structured(o.Out, entries); done {
				return err
			}
			if len(entries) == 0 {
				fmt.Fprintf(o.ErrOut, "No revisions of SidecarSet %s stored in namespace %s.\n", set.Name, o.operatorNamespace)
				return nil
			}
			return cli.HistoryTable(entries).Write(o.Out)
		},
	}
	out.addFlag(cmd, false)
	cmd.Flags().Int64Var(&number, "revision", 0, "Show what this revision injects.")
	return cmd
}

func newRollbackCommand(o *options) *cobra.Command {
	var number int64
	cmd := &cobra.Command{
		Use:   "rollback NAME [--to-revision N]",
		Short: "Write a stored revision's sidecars back into the SidecarSet's spec (default: the previous one)",
		Long: `Write what a stored revision injects (containers, initContainers, volumes, imagePullSecrets,
patchPodMetadata) back into the SidecarSet's spec, as kubectl rollout undo does for a Deployment; the
selectors and strategies are left alone. The default is the previous revision, the one the failure policy
rolls back to; --to-revision takes a number of history's.

The operator then rolls the change out like any other: in place where the revisions differ only in images,
resources and metadata. The patch tests the SidecarSet's resourceVersion, so it fails rather than undo a
change made meanwhile.`,
		Example: `  kubectl sidecarset rollback log-shipper
  kubectl sidecarset rollback log-shipper --to-revision 2`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSidecarSets,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := o.Client()
			if err != nil {
				return err
			}
			// Read as the API server has it, every field kept: the patch is made of its raw spec.
			raw := &unstructured.Unstructured{}
			raw.SetGroupVersionKind(appsv1alpha1.GroupVersion.WithKind("SidecarSet"))
			if err := c.Get(ctx, client.ObjectKey{Name: args[0]}, raw); err != nil {
				return err
			}
			set := &appsv1alpha1.SidecarSet{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw.Object, set); err != nil {
				return err
			}
			stored, crs, err := o.stored(ctx, set)
			if err != nil {
				return err
			}
			target, err := cli.RollbackTarget(set, stored, number)
			if errors.Is(err, cli.ErrSameRevision) {
				fmt.Fprintf(o.Out, "%s skipped rollback (the spec already injects revision %d, %s)\n", resourceName(set.Name), target.Number, target.Name)
				return nil
			}
			if err != nil {
				return err
			}
			var data []byte
			for _, cr := range crs {
				if cr.Name == target.Name {
					data = cr.Data.Raw
				}
			}
			spec, _, _ := unstructured.NestedMap(raw.Object, "spec")
			patch, err := cli.RollbackPatch(spec, data, raw.GetResourceVersion())
			if err != nil {
				return err
			}
			if err := c.Patch(ctx, raw, client.RawPatch(types.JSONPatchType, patch)); err != nil {
				return fmt.Errorf("rolling back: %w", err)
			}
			fmt.Fprintf(o.Out, "%s rolled back to revision %d (%s)\n", resourceName(set.Name), target.Number, target.Name)
			return nil
		},
	}
	cmd.Flags().Int64Var(&number, "to-revision", 0, "The revision to roll back to, as history numbers it; 0 for the previous one.")
	return cmd
}

func newSetCommand(o *options) *cobra.Command {
	set := &cobra.Command{
		Use:   "set",
		Short: "Change a SidecarSet's sidecars",
		Args:  cobra.NoArgs,
	}
	set.AddCommand(&cobra.Command{
		Use:   "image NAME CONTAINER=IMAGE [CONTAINER=IMAGE...]",
		Short: "Change the image of sidecars, and nothing else of them",
		Long: `Change the image of one or more sidecars (containers or init containers) of a SidecarSet, and nothing
else of them: with a JSON patch that tests each sidecar's name at its index and replaces its image, as
docs/user-guide.md recommends, never a merge patch of the list, which would drop the rest of each sidecar.
The operator then rolls the new image out in place.`,
		Example: `  kubectl sidecarset set image log-shipper fluent-bit=cr.fluentbit.io/fluent/fluent-bit:3.2.5`,
		Args:    cobra.MinimumNArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return o.completeSidecarSets(cmd, args, toComplete)
			}
			return o.completeSidecars(cmd, args[0], toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			images, err := cli.ParseImageAssignments(args[1:])
			if err != nil {
				return err
			}
			s, err := o.sidecarSet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			patch, changed, err := cli.SetImagePatch(&s.Spec, images)
			if err != nil {
				return fmt.Errorf("SidecarSet %s: %w", s.Name, err)
			}
			if patch == nil {
				fmt.Fprintf(o.Out, "%s image unchanged\n", resourceName(s.Name))
				return nil
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			if err := c.Patch(cmd.Context(), s, client.RawPatch(types.JSONPatchType, patch)); err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "%s image updated (%s)\n", resourceName(s.Name), strings.Join(changed, ", "))
			return nil
		},
	})
	return set
}

// completeSidecars completes CONTAINER= with the SidecarSet's sidecars.
func (o *options) completeSidecars(cmd *cobra.Command, name, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	set, err := o.sidecarSet(cmd.Context(), name)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []cobra.Completion
	for _, c := range append(set.Spec.Containers, set.Spec.InitContainers...) {
		if strings.HasPrefix(c.Name, toComplete) {
			out = append(out, c.Name+"=")
		}
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}
