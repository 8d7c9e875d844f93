package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
)

// ModelPath returns the path of a random-weight model of shape and type in
// dir, generating it when absent. The name carries the shape, so a cached
// file is only reused for the same shape.
func ModelPath(dir string, shape llama.Shape, typ tensor.Type) (string, error) {
	if shape.Arch == "" {
		shape.Arch = "llama"
	}
	name := fmt.Sprintf("cairn-bench-%s-%d-%d-%d-%d-%d-%d-%s-v1.gguf", shape.Arch, shape.Dim, shape.Layers,
		shape.Heads, shape.KVHeads, shape.FFNDim, shape.Vocab, typ)
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 4<<20)
	if err := llama.WriteRandomModel(w, shape, typ, 1); err != nil {
		tmp.Close()
		return "", err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

// QuantizedModelPath returns the path of the model of shape in dir
// quantised to ftype (a llama-quantize type name such as "Q4_K_M") by
// llama.cpp's llama-quantize binary bin from the F16 model, generating both
// when absent. Mixed types like Q4_K_M have no single tensor.Type, so
// llama.cpp's tool writes them, as a user's file would be.
func QuantizedModelPath(ctx context.Context, dir string, shape llama.Shape, bin, ftype string) (string, error) {
	src, err := ModelPath(dir, shape, tensor.F16)
	if err != nil {
		return "", err
	}
	path := strings.TrimSuffix(src, "-F16-v1.gguf") + "-" + ftype + "-v1.gguf"
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := path + ".tmp"
	defer os.Remove(tmp)
	if out, err := exec.CommandContext(ctx, bin, src, tmp, ftype).CombinedOutput(); err != nil {
		return "", fmt.Errorf("llama-quantize %s: %w: %s", ftype, err, lastLines(out, 3))
	}
	return path, os.Rename(tmp, path)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// MemoryBandwidth measures the read bandwidth in bytes/s of streaming a
// buffer of size bytes with threads goroutines, best of rounds passes. Each
// goroutine compares two equal halves of its share with bytes.Equal, which
// the runtime implements with vector loads: a pure read stream, as decode's
// weight reads are.
func MemoryBandwidth(size, threads, rounds int) float64 {
	buf := make([]byte, size)
	for i := 0; i < min(size, 4096); i++ {
		buf[i] = byte(i * 7)
	}
	for n := 4096; n < size; n *= 2 {
		copy(buf[n:], buf[:n])
	}
	// Shares are whole periods of the 4096-byte pattern, so the halves
	// compare equal and bytes.Equal reads every byte.
	per := size / threads / 8192 * 8192
	best := 0.0
	equal := make([]bool, threads)
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		start := time.Now()
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(t int) {
				defer wg.Done()
				part := buf[t*per : (t+1)*per]
				// equal halves: bytes.Equal must read every byte
				equal[t] = bytes.Equal(part[:per/2-1], part[per/2:per-1])
			}(t)
		}
		wg.Wait()
		d := time.Since(start).Seconds()
		best = max(best, float64(per*threads)/d)
	}
	runtime.KeepAlive(equal)
	return best
}

// ResidentBytes returns the process's resident set size (Linux), or 0.
func ResidentBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// LlamaBench runs llama.cpp's llama-bench binary on model with threads
// threads, once for both tests: prompt processing of prompt tokens and
// generation of gen tokens. It returns llama-bench's average tokens/s of
// each.
func LlamaBench(ctx context.Context, bin, model string, threads, prompt, gen int) (pp, tg float64, err error) {
	rows, err := llamaBench(ctx, bin, model, threads, prompt, gen, 3)
	if err != nil {
		return 0, 0, err
	}
	for _, r := range rows {
		switch {
		case r.NPrompt == prompt && r.NGen == 0:
			pp = r.AvgTS
		case r.NPrompt == 0 && r.NGen == gen:
			tg = r.AvgTS
		}
	}
	if pp == 0 || tg == 0 {
		return 0, 0, fmt.Errorf("llama-bench output lacks the rows of -p %d -n %d", prompt, gen)
	}
	return pp, tg, nil
}

// LlamaDecode runs llama-bench's generation test alone (gen tokens, reps
// repetitions) and returns its average tokens/s: a short run to alternate
// with Cairn's own on a machine whose speed drifts.
func LlamaDecode(ctx context.Context, bin, model string, threads, gen, reps int) (float64, error) {
	rows, err := llamaBench(ctx, bin, model, threads, 0, gen, reps)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if r.NPrompt == 0 && r.NGen == gen {
			return r.AvgTS, nil
		}
	}
	return 0, fmt.Errorf("llama-bench output lacks the row of -n %d", gen)
}

type llamaRow struct {
	NPrompt int     `json:"n_prompt"`
	NGen    int     `json:"n_gen"`
	AvgTS   float64 `json:"avg_ts"`
}

func llamaBench(ctx context.Context, bin, model string, threads, prompt, gen, reps int) ([]llamaRow, error) {
	args := []string{"-m", model, "-t", strconv.Itoa(threads), "-p", strconv.Itoa(prompt), "-n", strconv.Itoa(gen), "-r", strconv.Itoa(reps), "-o", "json"}
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("llama-bench %v: %w", args, err)
	}
	var rows []llamaRow
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("llama-bench output: %w", err)
	}
	return rows, nil
}
