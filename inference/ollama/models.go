package ollama

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cairnhub/cairn/inference/gguf"
)

// details is Ollama's summary of a model file.
type details struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

type listed struct {
	Name       string    `json:"name"`
	Model      string    `json:"model"`
	ModifiedAt time.Time `json:"modified_at"`
	Size       int64     `json:"size"`
	Digest     string    `json:"digest"`
	Details    details   `json:"details"`
	// /api/ps only:
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	SizeVRAM  *int64     `json:"size_vram,omitempty"`
}

// handleTags lists the models this node may serve. Size, digest and
// details are those of files already on this node; a model that is listed
// but still only in the store (or on a peer) shows them empty until first
// use, as listing must not pull or write out models.
func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) {
	entries, err := s.cfg.Models.List(r.Context())
	if err != nil {
		writeError(w, fmt.Errorf("list models: %w", err))
		return
	}
	out := make([]listed, 0, len(entries))
	loaded := map[string]string{}
	if s.cfg.Running != nil {
		for _, l := range s.cfg.Running.Loaded() {
			loaded[l.ID] = l.Path
		}
	}
	for _, e := range entries {
		m := listed{Name: FromID(e.ID), Model: FromID(e.ID), ModifiedAt: e.Created.UTC(), Details: details{Format: "gguf"}}
		if path, ok := loaded[e.ID]; ok {
			m.Size, m.Digest, m.Details = describe(path)
		}
		out = append(out, m)
	}
	writeJSON(w, map[string]any{"models": out})
}

// handlePs lists the loaded models.
func (s *Server) handlePs(w http.ResponseWriter, _ *http.Request) {
	out := []listed{}
	if s.cfg.Running != nil {
		for _, l := range s.cfg.Running.Loaded() {
			if l.Pending {
				continue
			}
			m := listed{Name: FromID(l.ID), Model: FromID(l.ID), ModifiedAt: l.Loaded.UTC(), SizeVRAM: new(int64)}
			m.Size, m.Digest, m.Details = describe(l.Path)
			if l.Bytes > 0 {
				m.Size = l.Bytes
			}
			if !l.Expires.IsZero() {
				e := l.Expires.UTC()
				m.ExpiresAt = &e
			}
			out = append(out, m)
		}
	}
	writeJSON(w, map[string]any{"models": out})
}

type showRequest struct {
	Model   string `json:"model"`
	Name    string `json:"name"` // older clients
	Verbose bool   `json:"verbose"`
}

// handleShow describes one model from its GGUF header.
func (s *Server) handleShow(w http.ResponseWriter, r *http.Request) {
	var req showRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	_, path, err := s.locate(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := gguf.Open(path)
	if err != nil {
		writeError(w, fmt.Errorf("read model %s: %w", name, err))
		return
	}
	defer f.Close()
	_, _, det := describe(path)
	tmpl, _ := f.String("tokenizer.chat_template")
	var mod time.Time
	if st, err := os.Stat(path); err == nil {
		mod = st.ModTime().UTC()
	}
	writeJSON(w, map[string]any{
		"license": "", "modelfile": "# served by Cairn from " + name + "\n", "parameters": "",
		"template": tmpl, "details": det, "model_info": modelInfo(f, req.Verbose),
		"capabilities": []string{"completion"}, "modified_at": mod,
	})
}

// modelInfo is the GGUF metadata as /api/show gives it: arrays only with
// verbose (a vocabulary is large), as null otherwise.
func modelInfo(f *gguf.File, verbose bool) map[string]any {
	out := make(map[string]any, len(f.KV)+1)
	for _, kv := range f.KV {
		if a, ok := kv.Value.(gguf.Array); ok {
			if verbose {
				out[kv.Key] = a.Values
			} else {
				out[kv.Key] = nil
			}
			continue
		}
		out[kv.Key] = kv.Value
	}
	out["general.parameter_count"] = paramCount(f)
	return out
}

func paramCount(f *gguf.File) int64 {
	var n int64
	for _, t := range f.Tensors {
		e := int64(1)
		for _, d := range t.Dims {
			e *= int64(d)
		}
		n += e
	}
	return n
}

// describe reads size, digest and details of a GGUF file; zero values
// where it cannot.
func describe(path string) (size int64, digest string, d details) {
	d = details{Format: "gguf"}
	st, err := os.Stat(path)
	if err != nil {
		return 0, "", d
	}
	size = st.Size()
	digest = fileDigest(path)
	f, err := gguf.Open(path)
	if err != nil {
		return size, digest, d
	}
	defer f.Close()
	arch, _ := f.Architecture()
	d.Family, d.Families = arch, []string{arch}
	d.ParameterSize = humanParams(paramCount(f))
	d.QuantizationLevel = fileType(f)
	return size, digest, d
}

// fileDigest is the file's sha256 when its name says it: Cairn names
// materialised models by it (<home>/models/<sha256>.gguf). Empty
// otherwise: hashing a model file to list it would cost a read of it.
func fileDigest(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".gguf")
	if _, err := hex.DecodeString(base); err == nil && len(base) == 64 {
		return base
	}
	return ""
}

func humanParams(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	default:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
}

// fileType is the most common tensor type of the file's weights, as
// Ollama's quantization_level names it ("Q4_0", "F16", …).
func fileType(f *gguf.File) string {
	count := map[string]int64{}
	for _, t := range f.Tensors {
		if len(t.Dims) < 2 {
			continue
		}
		e := int64(1)
		for _, d := range t.Dims {
			e *= int64(d)
		}
		count[t.Type.String()] += e
	}
	types := make([]string, 0, len(count))
	for k := range count {
		types = append(types, k)
	}
	sort.Slice(types, func(i, j int) bool {
		return count[types[i]] > count[types[j]] || count[types[i]] == count[types[j]] && types[i] < types[j]
	})
	if len(types) == 0 {
		return ""
	}
	return types[0]
}
