// Package olm validates the OLM bundle (bundle/, written by make bundle) with the operator-framework's own
// validators: the default set and the operatorframework optional suite.
package olm

import (
	"regexp"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	interfaces "github.com/operator-framework/api/pkg/validation/interfaces"
)

// rbacRuleOnPodDisruptionBudgets is the warning the deprecated-APIs validator gives for any permission on
// poddisruptionbudgets in the policy group: a rule names no version, and policy/v1beta1 was removed in 1.25,
// so the validator warns that the rule *may* be for it. The operator reads policy/v1 budgets (the rollout
// honours them), and the bundle holds a policy/v1 PodDisruptionBudget, which the validator checks on its
// own. Only a warning naming permission rules and nothing else is this one.
var rbacRuleOnPodDisruptionBudgets = regexp.MustCompile(`removed in v1\.25.*Migrate the API\(s\) for poddisruptionbudgets: ` +
	`\((\["ClusterServiceVersion\.Spec\.InstallStrategy\.StrategySpec\.(Cluster)?Permissions\[\d+\]\.Rules\[\d+\]"\],? ?)+\)$`)

func TestBundleValidates(t *testing.T) {
	bundle, err := manifests.GetBundleFromDir("../../bundle")
	if err != nil {
		t.Fatalf("loading the bundle: %v", err)
	}
	validators := append(interfaces.Validators{}, validation.DefaultBundleValidators...)
	// The operatorframework suite of operator-sdk bundle validate --select-optional, and the object checks
	// (the PodDisruptionBudget).
	validators = append(validators,
		validation.OperatorHubV2Validator,
		validation.StandardCapabilitiesValidator,
		validation.StandardCategoriesValidator,
		validation.GoodPracticesValidator,
		validation.AlphaDeprecatedAPIsValidator,
		validation.ObjectValidator,
	)
	results := validators.Validate(bundle, map[string]string{"k8s-version": "1.37"})
	checked := 0
	for _, r := range results {
		for _, e := range r.Errors {
			t.Errorf("%s: error: %s", r.Name, e.Error())
		}
		for _, w := range r.Warnings {
			if rbacRuleOnPodDisruptionBudgets.MatchString(w.Error()) {
				continue
			}
			t.Errorf("%s: warning: %s", r.Name, w.Error())
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no validator ran")
	}
}

func TestBundleDescribesTheOperator(t *testing.T) {
	bundle, err := manifests.GetBundleFromDir("../../bundle")
	if err != nil {
		t.Fatal(err)
	}
	csv := bundle.CSV
	if bundle.Name != csv.Name || len(bundle.V1CRDs) != 1 || bundle.V1CRDs[0].Name != "sidecarsets.apps.sidecarset.io" {
		t.Errorf("bundle %s with CRDs %d", bundle.Name, len(bundle.V1CRDs))
	}
	if got := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs; len(got) != 1 || *got[0].Spec.Replicas != 2 {
		t.Errorf("deployments %+v", got)
	}
	if len(csv.Spec.WebhookDefinitions) != 0 {
		t.Error("the CSV declares webhooks: the operator manages its own, and OLM would fight it")
	}
	if csv.Spec.MinKubeVersion == "" || len(csv.Spec.Icon) == 0 || len(csv.Spec.Keywords) == 0 || len(csv.Spec.Maintainers) == 0 {
		t.Error("the CSV lacks minKubeVersion, icon, keywords or maintainers")
	}
	if csv.Annotations["alm-examples"] == "" {
		t.Error("no alm-examples")
	}
}

func TestOnlyThePermissionRuleWarningIsTolerated(t *testing.T) {
	rule := `Value sidecarset-operator.v0.1.0: this bundle is using APIs which were deprecated and removed in v1.25. More info: ` +
		`https://kubernetes.io/docs/reference/using-api/deprecation-guide/#v1-25. Migrate the API(s) for poddisruptionbudgets: ` +
		`(["ClusterServiceVersion.Spec.InstallStrategy.StrategySpec.ClusterPermissions[0].Rules[8]"])`
	object := `Value sidecarset-operator.v0.1.0: this bundle is using APIs which were deprecated and removed in v1.25. More info: ` +
		`https://kubernetes.io/docs/reference/using-api/deprecation-guide/#v1-25. Migrate the API(s) for PodDisruptionBudget: (["pdb"])`
	if !rbacRuleOnPodDisruptionBudgets.MatchString(rule) {
		t.Error("the permission rule warning is not recognised")
	}
	if rbacRuleOnPodDisruptionBudgets.MatchString(object) {
		t.Error("a policy/v1beta1 PodDisruptionBudget in the bundle would be tolerated")
	}
}
