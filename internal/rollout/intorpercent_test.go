package rollout

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func intOrPercent(s string) *intstr.IntOrString {
	v := intstr.Parse(s)
	return &v
}

func TestResolveIntOrPercent(t *testing.T) {
	type resolver func(*intstr.IntOrString, int) (int, error)
	tests := []struct {
		name    string
		resolve resolver
		value   *intstr.IntOrString
		matched int
		want    int
	}{
		// The worked numbers of the doc comments, one case each.
		{"maxUnavailable integer", MaxUnavailable, intOrPercent("3"), 100, 3},
		{"maxUnavailable 10% of 100", MaxUnavailable, intOrPercent("10%"), 100, 10},
		{"maxUnavailable 10% of 25 rounds 2.5 up", MaxUnavailable, intOrPercent("10%"), 25, 3},
		{"maxUnavailable 1% of 10 rounds 0.1 up", MaxUnavailable, intOrPercent("1%"), 10, 1},
		{"maxUnavailable of no pods is still 1", MaxUnavailable, intOrPercent("25%"), 0, 1},
		{"maxUnavailable 100% of 7", MaxUnavailable, intOrPercent("100%"), 7, 7},
		{"maxUnavailable unset defaults to 1", MaxUnavailable, nil, 50, 1},
		{"maxUnavailable 10% of 30 is exactly 3", MaxUnavailable, intOrPercent("10%"), 30, 3},
		{"maxUnavailable 10% of 1000", MaxUnavailable, intOrPercent("10%"), 1000, 100},
		{"partition integer", Partition, intOrPercent("2"), 10, 2},
		{"partition capped at matched pods", Partition, intOrPercent("5"), 3, 3},
		{"partition 90% of 25 rounds 22.5 up", Partition, intOrPercent("90%"), 25, 23},
		{"partition 10% of 5 rounds 0.5 up", Partition, intOrPercent("10%"), 5, 1},
		{"partition 0%", Partition, intOrPercent("0%"), 40, 0},
		{"partition unset is 0", Partition, nil, 40, 0},
		{"maxFailedPods 5% of 30 rounds 1.5 up", MaxFailedPods, intOrPercent("5%"), 30, 2},
		{"maxFailedPods 5% of 10 rounds 0.5 up", MaxFailedPods, intOrPercent("5%"), 10, 1},
		{"maxFailedPods not capped by pods", MaxFailedPods, intOrPercent("2"), 1, 2},
		{"maxFailedPods unset defaults to 1", MaxFailedPods, nil, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.resolve(tt.value, tt.matched)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestResolveIntOrPercentRejectsInvalidValues(t *testing.T) {
	negative := intstr.FromInt32(-1)
	tests := []struct {
		name    string
		value   *intstr.IntOrString
		wantErr string
	}{
		{"no percent sign", intOrPercent("ten"), `maxUnavailable: "ten" is neither an integer nor a percentage such as "10%"`},
		{"over 100%", intOrPercent("101%"), `maxUnavailable: "101%" is not a percentage from 0% to 100%`},
		{"not a number before %", intOrPercent("x%"), `maxUnavailable: "x%" is not a percentage from 0% to 100%`},
		{"negative integer", &negative, "maxUnavailable: -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MaxUnavailable(tt.value, 10)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("got error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
