package benchmark

import (
	"math"
	"testing"
)

func TestPercentileIsTheNearestRankAtOrBelow(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	for _, c := range []struct {
		values  []float64
		q, want float64
	}{
		{hundred, 0.5, 51},
		{hundred, 0.99, 100},
		{hundred, 0.9, 91},
		{[]float64{7}, 0.99, 7},
		{[]float64{1, 2}, 0.5, 2},
	} {
		if got := percentile(c.values, c.q); got != c.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(c.values), c.q, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("percentile of none = %v, want NaN", got)
	}
}
