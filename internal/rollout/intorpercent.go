// Package rollout decides which matched pods a SidecarSet updates in place, and how many at a time. It has no
// client: it takes what step.Decide observed and returns numbers and decisions with their reasons.
package rollout

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// MaxUnavailable resolves updateStrategy.maxUnavailable against the number of matched pods. A percentage is
// of the matched pods, rounded up, and the result is never below 1, so a rollout can always make progress.
// Unset means the default, 1. Worked numbers:
//
//	3 with 100 pods      -> 3
//	"10%" of 100 pods    -> 10
//	"10%" of 25 pods     -> 3   (2.5 rounded up)
//	"1%" of 10 pods      -> 1   (0.1 rounded up)
//	"25%" of 0 pods      -> 1   (0 raised to the floor of 1)
//	"100%" of 7 pods     -> 7
func MaxUnavailable(v *intstr.IntOrString, matched int) (int, error) {
	n, err := resolve("maxUnavailable", v, matched, appsv1alpha1.DefaultMaxUnavailable)
	if err != nil {
		return 0, err
	}
	return max(n, 1), nil
}

var defaultMaxUnavailablePerWorkload = intstr.FromString(appsv1alpha1.DefaultMaxUnavailablePerWorkload)

// MaxUnavailablePerWorkload resolves updateStrategy.maxUnavailablePerWorkload against the number of a
// workload's matched pods: a percentage rounded up, never below 1; unset means 25%. Worked numbers:
//
//	"25%" of 1 pod       -> 1   (0.25 rounded up: a single replica is updated alone)
//	"25%" of 3 pods      -> 1   (0.75 rounded up: two of three keep serving)
//	"25%" of 8 pods      -> 2
//	"25%" of 50 pods     -> 13  (12.5 rounded up)
//	2 with 3 pods        -> 2
func MaxUnavailablePerWorkload(v *intstr.IntOrString, workloadPods int) (int, error) {
	if v == nil {
		v = &defaultMaxUnavailablePerWorkload
	}
	n, err := resolve("maxUnavailablePerWorkload", v, workloadPods, 1)
	if err != nil {
		return 0, err
	}
	return max(n, 1), nil
}

// Partition resolves updateStrategy.partition, the number of matched pods left on older revisions, against the
// number of matched pods. A percentage is of the matched pods, rounded up (so "90%" keeps at least 90% of the
// pods back), and the result never exceeds the matched pods. Unset means 0. Worked numbers:
//
//	2 with 10 pods       -> 2
//	5 with 3 pods        -> 3   (capped at the matched pods)
//	"90%" of 25 pods     -> 23  (22.5 rounded up)
//	"10%" of 5 pods      -> 1   (0.5 rounded up)
//	"0%" of 40 pods      -> 0
func Partition(v *intstr.IntOrString, matched int) (int, error) {
	n, err := resolve("partition", v, matched, 0)
	if err != nil {
		return 0, err
	}
	return min(n, matched), nil
}

// MaxFailedPods resolves updateStrategy.failurePolicy.maxFailedPods against the number of matched pods, with
// the same rounding as MaxUnavailable: a percentage rounded up, never below 1, unset means 1. Worked numbers:
//
//	"5%" of 30 pods      -> 2   (1.5 rounded up)
//	"5%" of 10 pods      -> 1   (0.5 rounded up)
//	2 with 1 pod         -> 2   (not capped: a threshold above the pod count never trips)
func MaxFailedPods(v *intstr.IntOrString, matched int) (int, error) {
	n, err := resolve("maxFailedPods", v, matched, appsv1alpha1.DefaultMaxFailedPods)
	if err != nil {
		return 0, err
	}
	return max(n, 1), nil
}

// resolve turns an integer or a percentage of total into a number, rounding a percentage up. The API server
// validates these fields, so an error here means an object that bypassed validation; it names the field.
func resolve(field string, v *intstr.IntOrString, total, unset int) (int, error) {
	if v == nil {
		return unset, nil
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return 0, fmt.Errorf("%s: %d is negative", field, v.IntVal)
		}
		return int(v.IntVal), nil
	}
	digits, ok := strings.CutSuffix(v.StrVal, "%")
	if !ok {
		return 0, fmt.Errorf("%s: %q is neither an integer nor a percentage such as \"10%%\"", field, v.StrVal)
	}
	percent, err := strconv.Atoi(digits)
	if err != nil || percent < 0 || percent > 100 {
		return 0, fmt.Errorf("%s: %q is not a percentage from 0%% to 100%%", field, v.StrVal)
	}
	// Integer ceiling of percent*total/100: no floating point, so 10% of 30 is exactly 3.
	return (percent*total + 99) / 100, nil
}
