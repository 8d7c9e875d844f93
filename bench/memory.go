package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/cairnhub/cairn/inference"
	infbench "github.com/cairnhub/cairn/inference/bench"
	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
)

// memFlags are the settings of `bench memory`.
type memFlags struct {
	types    string
	ctx      int
	tokens   int
	prompt   int
	weights  string
	dir      string
	quantize string
	llama    string
	child    string
}

// memRow is what one child process measured for one model.
type memRow struct {
	File     int64 `json:"file"`
	KV       int64 `json:"kv"`
	RSS      int64 `json:"rss"`
	HWM      int64 `json:"hwm"`
	Anon     int64 `json:"anon"`
	FileRSS  int64 `json:"file_rss"`
	HeapLive int64 `json:"heap_live"`
	GoSys    int64 `json:"go_sys"`
}

// runMemory measures the resident memory of a loaded TinyLlama-shaped model
// against its file size plus its KV cache, each type in a fresh process.
func runMemory(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	var f memFlags
	fs.StringVar(&f.types, "types", "Q4_0,Q8_0,F16,Q4_K_M", "weight types: engine types, or llama-quantize names (Q4_K_M, …) quantised from F16 with -quantize")
	fs.IntVar(&f.ctx, "ctx", 2048, "context length of the session (its KV cache)")
	fs.IntVar(&f.tokens, "tokens", 16, "tokens generated after the prompt")
	fs.IntVar(&f.prompt, "prompt", 0, "prompt tokens (0: the context less -tokens, so every KV cache page is written)")
	fs.StringVar(&f.weights, "weights", inference.WeightsAuto, "how the weights are held: mmap, resident, or empty for the engine's default")
	fs.StringVar(&f.dir, "dir", os.TempDir(), "where generated models are kept")
	fs.StringVar(&f.quantize, "quantize", "", "llama-quantize binary, for types it names (Q4_K_M, …)")
	fs.StringVar(&f.llama, "llama", "", "llama-simple binary: its peak RSS on the same file is the reference")
	fs.StringVar(&f.child, "child", "", "internal: measure this model file in this process")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.child != "" {
		return memChild(ctx, f)
	}
	fmt.Printf("%-8s %9s %8s %9s %9s %8s %8s %7s %7s %s\n", "type", "file_MiB", "kv_MiB", "rss_MiB", "hwm_MiB",
		"anon_MiB", "heap_MiB", "rss/b", "hwm/b", "llama.cpp hwm/b")
	for _, name := range strings.Split(f.types, ",") {
		path, err := memModel(ctx, f, name)
		if err != nil {
			return err
		}
		row, err := memMeasure(ctx, f, path)
		if err != nil {
			return err
		}
		ref := "-"
		if f.llama != "" {
			r, err := llamaPeak(ctx, f.llama, path, f.tokens)
			if err != nil {
				return err
			}
			ref = fmt.Sprintf("%.3f (%d MiB)", float64(r)/float64(row.File), r>>20)
		}
		budget := float64(row.File + row.KV)
		fmt.Printf("%-8s %9d %8d %9d %9d %8d %8d %7.3f %7.3f %s\n", name, row.File>>20, row.KV>>20, row.RSS>>20, row.HWM>>20,
			row.Anon>>20, row.HeapLive>>20, float64(row.RSS)/budget, float64(row.HWM)/budget, ref)
	}
	return nil
}

// memModel returns the path of the TinyLlama-shaped model of the type
// named, generating or quantising it when absent.
func memModel(ctx context.Context, f memFlags, name string) (string, error) {
	if t, err := typeByName(name); err == nil {
		return infbench.ModelPath(f.dir, llama.TinyLlama, t)
	}
	if f.quantize == "" {
		return "", fmt.Errorf("memory: %s is not an engine type; give -quantize to make it with llama-quantize", name)
	}
	src, err := infbench.ModelPath(f.dir, llama.TinyLlama, tensor.F16)
	if err != nil {
		return "", err
	}
	dst := strings.TrimSuffix(src, "-F16-v1.gguf") + "-" + name + "-v1.gguf"
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	t, err := os.CreateTemp(f.dir, filepath.Base(dst)+".tmp*")
	if err != nil {
		return "", err
	}
	tmp := t.Name()
	t.Close()
	if out, err := exec.CommandContext(ctx, f.quantize, src, tmp, name).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("memory: llama-quantize %s: %w\n%s", name, err, out)
	}
	return dst, os.Rename(tmp, dst)
}

// memMeasure runs a child process of this binary on path and returns its row.
func memMeasure(ctx context.Context, f memFlags, path string) (memRow, error) {
	self, err := os.Executable()
	if err != nil {
		return memRow{}, err
	}
	args := []string{"memory", "-child", path, "-ctx", strconv.Itoa(f.ctx), "-tokens", strconv.Itoa(f.tokens),
		"-prompt", strconv.Itoa(f.prompt), "-weights", f.weights}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return memRow{}, fmt.Errorf("memory: child on %s: %w", path, err)
	}
	var row memRow
	if err := json.Unmarshal(out, &row); err != nil {
		return memRow{}, fmt.Errorf("memory: child output %q: %w", out, err)
	}
	return row, nil
}

// memChild loads the model through the engine as a server does, generates,
// and prints what the process holds as one JSON row.
func memChild(ctx context.Context, f memFlags) error {
	st, err := os.Stat(f.child)
	if err != nil {
		return err
	}
	m, err := inference.OpenConfig(f.child, inference.Config{ContextLength: f.ctx, Weights: f.weights})
	if err != nil {
		return err
	}
	defer m.Close()
	n := f.prompt
	if n <= 0 {
		n = f.ctx - f.tokens
	}
	prompt := make([]int32, max(n, 1))
	for i := range prompt {
		prompt[i] = int32(300 + i*37%20000)
	}
	req := inference.Request{Tokens: prompt, MaxTokens: f.tokens, IgnoreEOS: true}
	if _, err := m.Generate(ctx, req, func(string) error { return nil }); err != nil {
		return err
	}
	status := procStatus()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	row := memRow{
		File: st.Size(), KV: m.Info().KVCacheBytes,
		RSS: status["VmRSS"], HWM: status["VmHWM"], Anon: status["RssAnon"], FileRSS: status["RssFile"] + status["RssShmem"],
		HeapLive: int64(ms.HeapAlloc), GoSys: int64(ms.Sys),
	}
	runtime.KeepAlive(m)
	return json.NewEncoder(os.Stdout).Encode(row)
}

// procStatus reads the kB figures of /proc/self/status, in bytes.
func procStatus() map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, "kB") {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64); err == nil {
			out[k] = n << 10
		}
	}
	return out
}

// llamaPeak runs llama.cpp's llama-simple on model and returns its peak
// RSS. llama-simple sizes its context to the prompt and generated tokens,
// so its KV cache is a few hundred KiB: the peak is weights plus overhead.
func llamaPeak(ctx context.Context, bin, model string, tokens int) (int64, error) {
	cmd := exec.CommandContext(ctx, bin, "-m", model, "-n", strconv.Itoa(tokens), "Once upon a time there was")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("memory: %s: %w\n%s", bin, err, out.Bytes())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, fmt.Errorf("memory: no resource usage of %s", bin)
	}
	return ru.Maxrss << 10, nil
}
