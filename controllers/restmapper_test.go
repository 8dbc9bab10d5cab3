package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// countingMapper counts the mappings asked of it, and serves the kinds of served alone.
type countingMapper struct {
	*meta.DefaultRESTMapper
	asked int
}

func (c *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	c.asked++
	return c.DefaultRESTMapper.RESTMapping(gk, versions...)
}

// TestRESTMappingsFoundAreRemembered: a kind's mapping at one version is asked of the mapper once and given
// again as found; a kind not found is asked again every time, and found once the mapper serves it (a
// CustomResourceDefinition installed after the operator started); a mapping asked with no version (or with
// several) is always asked of the mapper.
func TestRESTMappingsFoundAreRemembered(t *testing.T) {
	pods := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	widgets := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	under := &countingMapper{DefaultRESTMapper: meta.NewDefaultRESTMapper([]schema.GroupVersion{pods.GroupVersion(), widgets.GroupVersion()})}
	under.Add(pods, meta.RESTScopeNamespace)
	m := RememberRESTMappings(under)

	first, err := m.RESTMapping(pods.GroupKind(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.RESTMapping(pods.GroupKind(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if under.asked != 1 || again != first || again.Resource.Resource != "pods" || again.Scope.Name() != meta.RESTScopeNameNamespace {
		t.Errorf("asked the mapper %d times for pods at v1, gave %+v then %+v; want once, the same mapping of pods",
			under.asked, first, again)
	}

	for range 2 {
		if _, err := m.RESTMapping(widgets.GroupKind(), "v1"); !meta.IsNoMatchError(err) {
			t.Fatalf("a kind the API does not serve: error %v, want a no-match error", err)
		}
	}
	if under.asked != 3 {
		t.Errorf("asked the mapper %d times in all after two asks of a kind not served, want 3: not found is not remembered", under.asked)
	}
	under.Add(widgets, meta.RESTScopeRoot)
	if got, err := m.RESTMapping(widgets.GroupKind(), "v1"); err != nil || got.Scope.Name() != meta.RESTScopeNameRoot {
		t.Errorf("a kind served since: mapping %+v, error %v; want the cluster-scoped mapping", got, err)
	}

	before := under.asked
	for range 2 {
		if _, err := m.RESTMapping(pods.GroupKind()); err != nil {
			t.Fatal(err)
		}
	}
	if under.asked != before+2 {
		t.Errorf("asked the mapper %d times for two mappings of no given version, want 2", under.asked-before)
	}
}
