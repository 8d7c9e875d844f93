package inference

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// AvailableMemory is MemAvailable of /proc/meminfo (Linux), 0 where
// unknown.
func AvailableMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				kb, _ := strconv.ParseInt(fs[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// residentHugePages: gguf.OpenResident holds the copy in huge pages here.
const residentHugePages = runtime.GOOS == "linux"

// A file is held resident by default (WeightsAuto) when it takes at most
// 1/residentShare of the available memory: the rest stays for KV caches,
// other models and the page cache.
const residentShare = 2

// residentWeights decides whether Open copies a file of size bytes into
// memory: always with WeightsResident, never with WeightsMmap, and with
// WeightsAuto where huge-page memory is to be had (Linux) and the file
// takes at most half of the available memory.
func residentWeights(mode string, size, available int64) bool {
	switch mode {
	case WeightsResident:
		return true
	case WeightsMmap:
		return false
	}
	return residentHugePages && available > 0 && size <= available/residentShare
}
