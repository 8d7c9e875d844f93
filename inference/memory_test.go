package inference

import (
	"runtime"
	"testing"
)

func TestResidentWeights(t *testing.T) {
	const gib = 1 << 30
	cases := []struct {
		mode            string
		size, available int64
		want            bool
	}{
		{WeightsResident, 100 * gib, 1 * gib, true},
		{WeightsMmap, 1, 100 * gib, false},
		{WeightsAuto, 1 * gib, 4 * gib, residentHugePages},
		{WeightsAuto, 2 * gib, 4 * gib, residentHugePages},
		{WeightsAuto, 2*gib + 1, 4 * gib, false}, // more than half
		{WeightsAuto, 1, 0, false},               // available unknown
	}
	for _, c := range cases {
		if got := residentWeights(c.mode, c.size, c.available); got != c.want {
			t.Errorf("residentWeights(%q, %d, %d) = %v, want %v", c.mode, c.size, c.available, got, c.want)
		}
	}
}

func TestAvailableMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("MemAvailable is Linux's")
	}
	if n := AvailableMemory(); n <= 0 {
		t.Fatalf("AvailableMemory = %d on Linux", n)
	}
}
