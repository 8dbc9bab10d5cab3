package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/cli"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// options are what every command shares: the kubeconfig flags and the operator's namespace.
type options struct {
	genericiooptions.IOStreams
	config            *genericclioptions.ConfigFlags
	operatorNamespace string
	client            client.WithWatch
}

func newRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{IOStreams: streams, config: genericclioptions.NewConfigFlags(true)}
	root := &cobra.Command{
		Use:   "kubectl-sidecarset",
		Short: "Inspect SidecarSets and drive their rollouts",
		Long: `Inspect SidecarSets (apps.sidecarset.io/v1alpha1) and drive their rollouts, with the operator's own
rules: which pods a SidecarSet selects, why a pod was or was not injected, which pods drifted from the latest
revision and why, and what a SidecarSet not applied yet would select and inject.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl sidecarset"},
	}
	// --version without cobra's -v shorthand, which kubectl users know as the log level.
	root.Flags().Bool("version", false, "Print the plugin's version.")
	o.config.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVar(&o.operatorNamespace, "operator-namespace", cli.DefaultOperatorNamespace,
		"The namespace the operator runs in, which holds the SidecarSets' stored revisions and is never injected.")
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(newStatusCommand(o), newDriftCommand(o), newWhyCommand(o), newMatchCommand(o),
		newPauseCommand(o, true), newPauseCommand(o, false), newHistoryCommand(o), newRollbackCommand(o), newSetCommand(o))
	return root
}

// scheme holds the types the plugin reads and writes.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := appsv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// Client connects with the kubeconfig flags, once. The API server's warnings (a validating webhook's) are
// printed as kubectl prints them.
func (o *options) Client() (client.WithWatch, error) {
	if o.client != nil {
		return o.client, nil
	}
	// Nothing of controller-runtime's should log: the client only reports errors, which are returned.
	ctrllog.SetLogger(logr.Discard())
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NewWarningWriter(o.ErrOut, rest.WarningWriterOptions{Deduplicate: true})
	cfg.WarningHandlerWithContext = nil
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	o.client = c
	return c, nil
}

// Namespace is the namespace of -n, or else the kubeconfig context's; explicit says -n was given.
func (o *options) Namespace() (namespace string, explicit bool, err error) {
	return o.config.ToRawKubeConfigLoader().Namespace()
}

// listNamespace is the namespace a listing command keeps to: the one -n names, unless -A; "" for all, which a
// SidecarSet's pods span by default.
func (o *options) listNamespace(allNamespaces bool) (string, error) {
	ns, explicit, err := o.Namespace()
	if err != nil || !explicit || allNamespaces {
		return "", err
	}
	return ns, nil
}

// sidecarSet reads the SidecarSet name.
func (o *options) sidecarSet(ctx context.Context, name string) (*appsv1alpha1.SidecarSet, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	set := &appsv1alpha1.SidecarSet{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, set); err != nil {
		return nil, err
	}
	return set, nil
}

// revisions reads the ControllerRevisions the operator stored for the SidecarSets of the given name, or for
// every SidecarSet with "".
func (o *options) revisions(ctx context.Context, name string) ([]appsv1.ControllerRevision, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	var selector client.ListOption = client.HasLabels{appsv1alpha1.SidecarSetNameLabel}
	if name != "" {
		selector = client.MatchingLabels{appsv1alpha1.SidecarSetNameLabel: name}
	}
	var list appsv1.ControllerRevisionList
	if err := c.List(ctx, &list, selector, client.InNamespace(o.operatorNamespace)); err != nil {
		return nil, fmt.Errorf("reading the stored revisions in namespace %s (--operator-namespace): %w", o.operatorNamespace, err)
	}
	return list.Items, nil
}

// stored decodes the SidecarSet's stored revisions, warning of those that cannot be read.
func (o *options) stored(ctx context.Context, set *appsv1alpha1.SidecarSet) ([]revision.Stored, []appsv1.ControllerRevision, error) {
	crs, err := o.revisions(ctx, set.Name)
	if err != nil {
		return nil, nil, err
	}
	stored, unreadable := cli.StoredOf(set, crs)
	for _, name := range unreadable {
		fmt.Fprintf(o.ErrOut, "Warning: revision %s/%s cannot be read; it is left out\n", o.operatorNamespace, name)
	}
	return stored, crs, nil
}

// pods lists the pods a selector matches, in namespace or in every namespace for "", with the labels of their
// namespaces when withNamespaces (for a namespaceSelector), by namespace name.
func (o *options) pods(ctx context.Context, sel labels.Selector, namespace string, withNamespaces bool) ([]corev1.Pod, map[string]map[string]string, error) {
	c, err := o.Client()
	if err != nil {
		return nil, nil, err
	}
	var list corev1.PodList
	opts := []client.ListOption{client.MatchingLabelsSelector{Selector: sel}}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, nil, err
	}
	nsLabels := map[string]map[string]string{}
	if !withNamespaces {
		return list.Items, nsLabels, nil
	}
	if namespace != "" {
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
			return nil, nil, err
		}
		nsLabels[ns.Name] = ns.Labels
		return list.Items, nsLabels, nil
	}
	var nss metav1.PartialObjectMetadataList
	nss.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := c.List(ctx, &nss); err != nil {
		return nil, nil, err
	}
	for _, ns := range nss.Items {
		nsLabels[ns.Name] = ns.Labels
	}
	return list.Items, nsLabels, nil
}

// completeSidecarSets completes a SidecarSet name, the command's first argument.
func (o *options) completeSidecarSets(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := o.Client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(appsv1alpha1.GroupVersion.WithKind("SidecarSetList"))
	if err := c.List(cmd.Context(), &list); err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []cobra.Completion
	for _, item := range list.Items {
		if strings.HasPrefix(item.Name, toComplete) {
			names = append(names, item.Name)
		}
	}
	slices.Sort(names)
	return names, cobra.ShellCompDirectiveNoFileComp
}

// output is the -o flag of a command: "" for its table or text, json, yaml, or wide where the command
// has more columns.
type output struct {
	format string
	wide   bool
}

func (out *output) addFlag(cmd *cobra.Command, wide bool) {
	out.wide = wide
	formats := "json|yaml"
	if wide {
		formats = "json|yaml|wide"
	}
	cmd.Flags().StringVarP(&out.format, "output", "o", "", "Output format: "+formats+".")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return strings.Split(formats, "|"), cobra.ShellCompDirectiveNoFileComp
	})
}

func (out *output) validate() error {
	switch out.format {
	case "", "json", "yaml":
		return nil
	case "wide":
		if out.wide {
			return nil
		}
	}
	formats := "json, yaml"
	if out.wide {
		formats += ", wide"
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, the formats allowed are: %s", out.format, formats)
}

// structured prints v as JSON or YAML, when -o asks for one; false when it asks for neither.
func (out *output) structured(w io.Writer, v any) (bool, error) {
	switch out.format {
	case "json":
		data, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return true, err
	case "yaml":
		data, err := yaml.Marshal(v)
		if err != nil {
			return true, err
		}
		_, err = w.Write(data)
		return true, err
	}
	return false, nil
}

// resourceName is how kubectl names a SidecarSet in what it prints: sidecarset.apps.sidecarset.io/<name>.
func resourceName(name string) string {
	return "sidecarset." + appsv1alpha1.GroupVersion.Group + "/" + name
}
