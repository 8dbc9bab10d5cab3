package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sidecarset/sidecarset-operator/internal/cli"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
)

func newDriftCommand(o *options) *cobra.Command {
	var (
		out           output
		causes        []string
		sortBy        string
		allNamespaces bool
	)
	cmd := &cobra.Command{
		Use:   "drift NAME",
		Short: "List every matched pod not on the SidecarSet's latest revision, with its cause",
		Long: `List every pod the SidecarSet selects that does not run its latest revision, with the cause the
operator's status counts it under, its revision and its sidecars' images. Every pod is listed, where the
Drifted condition names five.

Causes: Outdated (updatable in place; the detail says what holds it back, if anything), NotUpgradable
(differs by more than images, resources and metadata: recreate it), MissingSidecar (never injected),
Conflict (a sidecar's name was taken), InjectionSkipped (the API server would have refused the pod with the
sidecars), RolledBack (returned to the previous revision by the failure policy), and, for pods on the latest
revision whose in-place update has not landed, Updating and Failed. -o wide adds each pod's workload and the
detail of its cause.

Pods of every namespace, or of -n's only. A summary of the counts goes to standard error.`,
		Example: `  kubectl sidecarset drift log-shipper
  kubectl sidecarset drift log-shipper --cause NotUpgradable,MissingSidecar -o wide
  kubectl sidecarset drift log-shipper -n shop --sort-by cause`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSidecarSets,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if sortBy != "" && sortBy != "cause" && sortBy != "namespace" {
				return fmt.Errorf("--sort-by %q: sort by cause or namespace", sortBy)
			}
			wanted, err := cli.ParseCauses(causes)
			if err != nil {
				return err
			}
			namespace, err := o.listNamespace(allNamespaces)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			set, err := o.sidecarSet(ctx, args[0])
			if err != nil {
				return err
			}
			stored, _, err := o.stored(ctx, set)
			if err != nil {
				return err
			}
			m, err := inject.NewMatcher(&set.Spec)
			if err != nil {
				return fmt.Errorf("SidecarSet %s: %w", set.Name, err)
			}
			pods, nsLabels, err := o.pods(ctx, m.PodSelector(), namespace, m.NeedsNamespaceLabels())
			if err != nil {
				return err
			}
			matched, err := cli.Matched(set, pods, nsLabels, o.operatorNamespace)
			if err != nil {
				return err
			}
			report := cli.Drift(set, cli.RevisionsOf(set, stored), matched, time.Now())
			summary := cli.DriftSummary(report)
			if namespace != "" {
				summary = fmt.Sprintf("In namespace %s: %s", namespace, summary)
			}
			if len(wanted) > 0 {
				report.Pods = cli.FilterDrift(report.Pods, wanted, "")
				summary += fmt.Sprintf(" %d listed, of the causes asked for.", len(report.Pods))
			}
			if sortBy == "cause" {
				cli.SortDrift(report.Pods, "cause")
			}
			if done, err := out.structured(o.Out, report); done {
				return err
			}
			fmt.Fprintln(o.ErrOut, summary)
			if len(report.Pods) == 0 {
				return nil
			}
			return cli.DriftTable(report.Pods, out.format == "wide").Write(o.Out)
		},
	}
	out.addFlag(cmd, true)
	cmd.Flags().StringSliceVar(&causes, "cause", nil, "List only pods of these causes (comma-separated).")
	cmd.Flags().StringVar(&sortBy, "sort-by", "namespace", "Sort by namespace (then name) or cause (then namespace and name).")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "Pods of every namespace (the default), whatever -n says.")
	_ = cmd.RegisterFlagCompletionFunc("cause", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var names []cobra.Completion
		for _, c := range cli.Causes {
			names = append(names, string(c))
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("sort-by", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"cause", "namespace"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}
