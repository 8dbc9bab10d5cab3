package v1alpha1_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// kubectl apply without --server-side stores the whole object in the last-applied-configuration annotation,
// and the API server refuses an object whose annotations exceed 256 KiB. The CRD embeds the full schemas of
// containers and volumes, so guard its size: past this limit `kubectl apply -f` of the install manifest fails.
func TestCRDFitsClientSideApply(t *testing.T) {
	const annotationLimit = 256 * 1024
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "apps.sidecarset.io_sidecarsets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	compact, err := json.Marshal(crd)
	if err != nil {
		t.Fatal(err)
	}
	if len(compact) >= annotationLimit {
		t.Fatalf("the CRD is %d bytes as JSON; kubectl apply (client side) refuses objects over %d bytes: "+
			"shorten doc comments or drop descriptions of embedded types", len(compact), annotationLimit)
	}
	t.Logf("CRD is %d bytes as JSON (%d%% of the client-side apply limit)", len(compact), 100*len(compact)/annotationLimit)
}
