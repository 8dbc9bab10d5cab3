package controllers

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

// shards reads the mutating configurations of the reconciler named base: the SidecarSets whose entries each
// holds, of those given, and each one's resourceVersion, by name.
func shards(base string, sets []string) (entries map[string][]string, versions map[string]string) {
	var list admissionregistrationv1.MutatingWebhookConfigurationList
	Expect(k8sClient.List(ctx, &list)).To(Succeed())
	entries, versions = map[string][]string{}, map[string]string{}
	for _, c := range list.Items {
		if _, ours := webhookconfig.ShardIndex(base, c.Name); !ours {
			continue
		}
		versions[c.Name] = c.ResourceVersion
		for _, w := range c.Webhooks {
			for _, s := range sets {
				if w.Name == webhookconfig.EntryName(s) {
					entries[c.Name] = append(entries[c.Name], s)
				}
			}
		}
	}
	return entries, versions
}

var _ = Describe("Webhook entries over several configurations", func() {
	It("spreads the entries over configurations of a bounded size, rewriting only the one an entry joins or leaves, and adopts the one configuration of an earlier version", func() {
		// SidecarSets no pod matches, created before the spec's own reconciler writes a validating
		// configuration that sends SidecarSet writes to no webhook.
		names := unmatchedSidecarSets(uniqueName("shard"), 5)
		r := shardsReconciler(uniqueName("shards"), webhookconfig.Limits{Entries: 2, Bytes: webhookconfig.DefaultLimits.Bytes})

		_, err := r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		entries, versions := shards(r.Name, names)
		seen := map[string]int{}
		for name, held := range entries {
			_, ours := webhookconfig.ShardIndex(r.Name, name)
			Expect(ours).To(BeTrue())
			for _, s := range held {
				seen[s]++
			}
		}
		for _, s := range names {
			Expect(seen[s]).To(Equal(1), "SidecarSet %s has %d entries", s, seen[s])
		}
		var list admissionregistrationv1.MutatingWebhookConfigurationList
		Expect(k8sClient.List(ctx, &list)).To(Succeed())
		for _, c := range list.Items {
			if _, ours := webhookconfig.ShardIndex(r.Name, c.Name); ours {
				n := 0
				for _, w := range c.Webhooks {
					if strings.HasSuffix(w.Name, webhookconfig.NameSuffix) {
						n++
					}
				}
				Expect(n).To(BeNumerically("<=", 2), "configuration %s holds %d entries", c.Name, n)
			}
		}
		Expect(len(versions)).To(BeNumerically(">=", 3), "5 entries, 2 a configuration")

		// Deleting one SidecarSet rewrites the configuration that held its entry, and no other.
		gone := names[2]
		var holder string
		for name, held := range entries {
			for _, s := range held {
				if s == gone {
					holder = name
				}
			}
		}
		set := &appsv1alpha1.SidecarSet{}
		set.Name = gone
		Expect(k8sClient.Delete(ctx, set)).To(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set) }).ShouldNot(Succeed())
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		after, afterVersions := shards(r.Name, names)
		for name, v := range versions {
			if name == holder {
				Expect(afterVersions[name]).NotTo(Equal(v), "the configuration that held %s was not rewritten", gone)
				Expect(after[name]).NotTo(ContainElement(gone))
			} else if _, ok := afterVersions[name]; ok {
				Expect(afterVersions[name]).To(Equal(v), "configuration %s was rewritten for an entry it does not hold", name)
			}
		}

		// In step, nothing is written.
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		_, again := shards(r.Name, names)
		Expect(again).To(Equal(afterVersions))
	})

	It("leaves the entries of an earlier version's one configuration where they are, over the limit, and puts new ones in the next", func() {
		prefix := uniqueName("upgrade")
		names := unmatchedSidecarSets(prefix, 3)
		r := shardsReconciler(uniqueName("upgraded"), webhookconfig.Limits{})
		// An earlier version wrote every entry into one configuration.
		_, err := r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		entries, versions := shards(r.Name, names)
		Expect(entries).To(HaveLen(1))
		Expect(entries[r.Name]).To(ConsistOf(names))

		r.Limits = webhookconfig.Limits{Entries: 1, Bytes: webhookconfig.DefaultLimits.Bytes}
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		_, same := shards(r.Name, names)
		Expect(same).To(Equal(versions), "entries moved when the limit went down")

		// The spec's own validating configuration refuses SidecarSet writes (no webhook behind it): the new
		// SidecarSet is created once it is gone, and put back by the next reconcile.
		deleteValidating(r.Name)
		extra := prefix + "-extra"
		newSidecarSet(extra, `{selector: {matchLabels: {never: matches}}, containers: [{name: s, image: example.com/s:1}]}`)
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		entries, _ = shards(r.Name, append(names, extra))
		Expect(entries[r.Name]).To(ConsistOf(names))
		Expect(entries[webhookconfig.ShardName(r.Name, 1)]).To(ConsistOf(extra))
	})
})

// unmatchedSidecarSets creates n SidecarSets no pod matches, prefix-0, prefix-1..., and returns their names.
func unmatchedSidecarSets(prefix string, n int) []string {
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		names = append(names, name)
		newSidecarSet(name, `{selector: {matchLabels: {never: matches}}, containers: [{name: s, image: example.com/s:1}]}`)
	}
	return names
}

// shardsReconciler is a spec's own webhook configuration reconciler, named name, whose entries point at no
// webhook, its configurations deleted after the spec.
func shardsReconciler(name string, limits webhookconfig.Limits) *WebhookConfigReconciler {
	url := "https://localhost:1" + webhookconfig.InjectPath
	DeferCleanup(func() { deleteShards(name) })
	return &WebhookConfigReconciler{
		Client: k8sClient,
		Name:   name,
		Params: webhookconfig.Params{ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
			FailurePolicy: admissionregistrationv1.Ignore, TimeoutSeconds: 1},
		Limits: limits,
	}
}

// deleteShards deletes every configuration of a spec's own reconciler named base.
func deleteShards(base string) {
	var list admissionregistrationv1.MutatingWebhookConfigurationList
	Expect(k8sClient.List(ctx, &list)).To(Succeed())
	for i := range list.Items {
		if _, ours := webhookconfig.ShardIndex(base, list.Items[i].Name); ours {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &list.Items[i]))).To(Succeed())
		}
	}
	deleteValidating(base)
}

// deleteValidating deletes a spec's own validating configuration, and waits until the API server no longer
// calls its webhook: it does until its own watch delivers the deletion.
func deleteValidating(name string) {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	vwc.Name = name
	Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, vwc))).To(Succeed())
	Eventually(func() error {
		probe := &appsv1alpha1.SidecarSet{}
		probe.Name = "validation-probe"
		Expect(yaml.Unmarshal([]byte(`{selector: {matchLabels: {never: matches}}, containers: [{name: s, image: example.com/s:1}]}`), &probe.Spec)).To(Succeed())
		return k8sClient.Create(ctx, probe, client.DryRunAll)
	}).Should(Succeed())
}
