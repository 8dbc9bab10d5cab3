package controllers

import (
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// NewRESTMapper is the manager's RESTMapper (its MapperProvider): controller-runtime's, discovering the API
// lazily, behind a memory of the mappings it found (RememberRESTMappings).
func NewRESTMapper(c *rest.Config, httpClient *http.Client) (meta.RESTMapper, error) {
	m, err := apiutil.NewDynamicRESTMapper(c, httpClient)
	if err != nil {
		return nil, err
	}
	return RememberRESTMappings(m), nil
}

// RememberRESTMappings returns m, with each mapping of a kind at one version that m found remembered and given
// again without asking m. The clients ask for a mapping at every call: every pod write (the metadata client),
// every List from the cache (is the kind namespaced?). m asks each API group's mapper in turn, and each that
// does not serve the kind answers with a new error: in a rollout of 10,000 pods that was about a twentieth of
// what the operator allocated. A mapping found does not change while the API serves the kind; one not found is
// never remembered, so a CustomResourceDefinition installed later is found as m finds it.
func RememberRESTMappings(m meta.RESTMapper) meta.RESTMapper {
	return &rememberingMapper{RESTMapper: m}
}

type rememberingMapper struct {
	meta.RESTMapper
	found sync.Map // gkv -> *meta.RESTMapping
}

type gkv struct {
	gk      schema.GroupKind
	version string
}

// RESTMapping gives the mapping remembered for a kind at one version, asking m the first time. Asked with no
// version or several, it asks m every time.
func (r *rememberingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if len(versions) != 1 {
		return r.RESTMapper.RESTMapping(gk, versions...)
	}
	key := gkv{gk, versions[0]}
	if m, ok := r.found.Load(key); ok {
		return m.(*meta.RESTMapping), nil
	}
	m, err := r.RESTMapper.RESTMapping(gk, versions...)
	if err != nil {
		return nil, err
	}
	r.found.Store(key, m)
	return m, nil
}
