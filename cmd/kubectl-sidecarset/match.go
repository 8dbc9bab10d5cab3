package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/cli"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podvalidation"
)

func newMatchCommand(o *options) *cobra.Command {
	var (
		out             output
		file            string
		podName         string
		allNamespaces   bool
		allowPrivileged bool
	)
	cmd := &cobra.Command{
		Use:   "match -f FILE",
		Short: "Show which existing pods a SidecarSet manifest would select, and what it would inject",
		Long: `Before applying a SidecarSet: show which existing pods it would select, per namespace and workload
(with the pods its selector matches that it would leave out, and why), and the containers it would inject
into one of them, with the webhook's own injection code and checks, run in memory: nothing is written.

The pod injected is the first selected by namespace and name, or --pod's; it is taken as it would be created
again, without what a SidecarSet of the same name injected before, so the manifest of an existing SidecarSet
shows what its new spec would inject. Pods of every namespace, or of -n's only.`,
		Example: `  kubectl sidecarset match -f sidecarset.yaml
  kubectl sidecarset match -f sidecarset.yaml -n shop --pod shop/web-0
  kustomize build overlays/prod | kubectl sidecarset match -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if file == "" {
				return errors.New("-f is required: the SidecarSet manifest, or - for standard input")
			}
			sets, err := readSidecarSets(file, o.In)
			if err != nil {
				return err
			}
			namespace, err := o.listNamespace(allNamespaces)
			if err != nil {
				return err
			}
			podvalidation.AllowPrivileged(allowPrivileged)
			ctx := cmd.Context()
			var reports []cli.MatchReport
			for i := range sets {
				set := &sets[i]
				m, err := inject.NewMatcher(&set.Spec)
				if err != nil {
					return fmt.Errorf("SidecarSet %s: %w", set.Name, err)
				}
				// Namespaces are read in any case: the dry run checks the Pod Security level the pod's enforces.
				pods, nsLabels, err := o.pods(ctx, m.PodSelector(), namespace, true)
				if err != nil {
					return err
				}
				report, selected, err := cli.Match(set, pods, nsLabels, o.operatorNamespace)
				if err != nil {
					return err
				}
				if len(selected) > 0 {
					pod := &selected[0]
					if podName != "" {
						i := slices.IndexFunc(selected, func(p corev1.Pod) bool { return p.Namespace+"/"+p.Name == podName })
						if i < 0 {
							return fmt.Errorf("--pod %s: SidecarSet %s would not select it", podName, set.Name)
						}
						pod = &selected[i]
					}
					d, err := cli.DryRunInjection(set, pod, nsLabels[pod.Namespace])
					if err != nil {
						return err
					}
					report.DryRun = &d
				}
				reports = append(reports, report)
			}
			var v any = reports
			if len(reports) == 1 {
				v = reports[0]
			}
			if done, err := out.structured(o.Out, v); done {
				return err
			}
			for i, r := range reports {
				if i > 0 {
					fmt.Fprintln(o.Out)
				}
				if err := cli.WriteMatch(o.Out, r); err != nil {
					return err
				}
			}
			return nil
		},
	}
	out.addFlag(cmd, false)
	cmd.Flags().StringVarP(&file, "filename", "f", "", "The SidecarSet manifest (YAML or JSON, several documents allowed), - for standard input.")
	cmd.Flags().StringVar(&podName, "pod", "", "The pod to inject, namespace/name, among those selected (default: the first).")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "Pods of every namespace (the default), whatever -n says.")
	cmd.Flags().BoolVar(&allowPrivileged, "allow-privileged", true,
		"Whether the cluster admits privileged containers, as the operator's flag of that name says.")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

// readSidecarSets reads the SidecarSets of a manifest, strictly: a field the API does not know is an error,
// as the API server's strict field validation makes it. Other kinds of objects are skipped.
func readSidecarSets(file string, stdin io.Reader) ([]appsv1alpha1.SidecarSet, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	var sets []appsv1alpha1.SidecarSet
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj unstructured.Unstructured
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if obj.Object == nil || obj.GetKind() != "SidecarSet" || !strings.HasPrefix(obj.GetAPIVersion(), appsv1alpha1.GroupVersion.Group+"/") {
			continue
		}
		doc, err := obj.MarshalJSON()
		if err != nil {
			return nil, err
		}
		var set appsv1alpha1.SidecarSet
		if err := yaml.UnmarshalStrict(doc, &set); err != nil {
			return nil, fmt.Errorf("%s: SidecarSet %s: %w", file, obj.GetName(), err)
		}
		if set.Name == "" {
			return nil, fmt.Errorf("%s: a SidecarSet has no metadata.name", file)
		}
		sets = append(sets, set)
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%s holds no SidecarSet (apiVersion %s, kind SidecarSet)", file, appsv1alpha1.GroupVersion)
	}
	return sets, nil
}
