package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/p2p/infer"
)

// Embedder makes embeddings; a Backend that is one serves /api/embed
// (the node's HandlerBackend and *openai.Server are). Without it the
// endpoints answer 501.
type Embedder interface {
	Embed(ctx context.Context, e openai.Embedding) (openai.EmbeddingResult, error)
}

// embedRequest is the body of /api/embed ("input") and of the older
// /api/embeddings ("prompt").
type embedRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Prompt     *string         `json:"prompt"`
	Truncate   *bool           `json:"truncate"`
	Dimensions int             `json:"dimensions"`
	Options    Options         `json:"options"`
	KeepAlive  json.RawMessage `json:"keep_alive"`
}

// embedding reads the request: input a string or an array of strings;
// truncate defaults to true, as Ollama's.
func (r *embedRequest) embedding(legacy bool) (openai.Embedding, error) {
	var e openai.Embedding
	id, err := ToID(r.Model)
	if err != nil {
		return e, err
	}
	e.Model, e.Truncate, e.Dimensions = id, r.Truncate == nil || *r.Truncate, r.Dimensions
	if e.Dimensions < 0 {
		return e, badRequest("dimensions must be positive, got %d", e.Dimensions)
	}
	if e.KeepAlive, err = keepAlive(r.KeepAlive); err != nil {
		return e, err
	}
	if legacy {
		if r.Prompt != nil && *r.Prompt != "" {
			e.Inputs = []inference.EmbedInput{{Text: *r.Prompt}}
		}
		return e, nil
	}
	var one string
	var list []string
	switch {
	case isNull(r.Input):
	case json.Unmarshal(r.Input, &one) == nil:
		if one != "" {
			e.Inputs = []inference.EmbedInput{{Text: one}}
		}
	case json.Unmarshal(r.Input, &list) == nil:
		if len(list) > openai.MaxEmbeddingInputs {
			return e, badRequest("input holds %d texts, at most %d", len(list), openai.MaxEmbeddingInputs)
		}
		for i, s := range list {
			if s == "" {
				return e, badRequest("input %d is an empty string", i)
			}
			e.Inputs = append(e.Inputs, inference.EmbedInput{Text: s})
		}
	default:
		return e, badRequest("input: want a string or an array of strings")
	}
	return e, nil
}

// embedReply is /api/embed's answer.
type embedReply struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration"`
	LoadDuration    int64       `json:"load_duration"`
	PromptEvalCount int         `json:"prompt_eval_count"`
}

// handleEmbed serves /api/embed and the older /api/embeddings ({"prompt"}
// in, {"embedding"} out). Embeddings are L2-normalised on both, as the
// engine makes them. No input only loads the model, as Ollama does.
func (s *Server) handleEmbed(w http.ResponseWriter, r *http.Request) {
	emb, ok := s.cfg.Backend.(Embedder)
	if !ok {
		writeError(w, &apiError{http.StatusNotImplemented, "embeddings are not available on this node"})
		return
	}
	legacy := r.URL.Path == "/api/embeddings"
	var req embedRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	e, err := req.embedding(legacy)
	if err != nil {
		writeError(w, err)
		return
	}
	start := time.Now()
	if len(e.Inputs) == 0 {
		if _, _, err := s.locate(r.Context(), req.Model); err != nil {
			writeError(w, err)
			return
		}
		if legacy {
			writeJSON(w, map[string]any{"embedding": []float32{}})
		} else {
			writeJSON(w, embedReply{Model: req.Model, Embeddings: [][]float32{}, TotalDuration: nanos(time.Since(start))})
		}
		return
	}
	res, err := emb.Embed(r.Context(), e)
	if err != nil {
		writeError(w, s.notFoundAs(req.Model, err))
		return
	}
	if legacy {
		writeJSON(w, map[string]any{"embedding": res.Embeddings[0].Vector})
		return
	}
	out := embedReply{Model: req.Model, TotalDuration: nanos(time.Since(start)), LoadDuration: nanos(res.Load), PromptEvalCount: res.PromptTokens}
	for _, em := range res.Embeddings {
		out.Embeddings = append(out.Embeddings, em.Vector)
	}
	writeJSON(w, out)
}

// notFoundAs gives a 404 from the backend Ollama's "not found" wording.
func (s *Server) notFoundAs(name string, err error) error {
	if oe, ok := err.(*openai.Error); ok && oe.Status == http.StatusNotFound {
		return notFound(name, err)
	}
	return err
}

// Embed implements Embedder: one non-streamed POST /v1/embeddings on H.
func (rb HandlerBackend) Embed(ctx context.Context, e openai.Embedding) (openai.EmbeddingResult, error) {
	var res openai.EmbeddingResult
	inputs := make([]any, len(e.Inputs))
	for i, in := range e.Inputs {
		inputs[i] = in.Text
		if in.Tokens != nil {
			inputs[i] = in.Tokens
		}
	}
	b := map[string]any{"model": e.Model, "input": inputs, "truncate": e.Truncate}
	if e.Dimensions > 0 {
		b["dimensions"] = e.Dimensions
	}
	if e.KeepAlive != nil {
		b["keep_alive"] = e.KeepAlive.Seconds()
	}
	body, err := json.Marshal(b)
	if err != nil {
		return res, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, infer.PathEmbeddings, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/json")
	if a := CallerOf(ctx).Auth; a != "" {
		req.Header.Set("Authorization", a)
	}
	t0 := time.Now()
	w := &sseReader{hdr: http.Header{}} // collects a non-streamed answer in other
	rb.H.ServeHTTP(w, req)
	if w.status != http.StatusOK {
		_, err := w.result()
		return res, err
	}
	var a struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(w.other.Bytes(), &a); err != nil || len(a.Data) != len(e.Inputs) {
		return res, &openai.Error{Status: http.StatusBadGateway, Type: "server_error", Message: "the inference router's embeddings answer could not be read"}
	}
	for _, d := range a.Data {
		res.Embeddings = append(res.Embeddings, inference.Embedding{Vector: d.Embedding})
	}
	res.PromptTokens = a.Usage.PromptTokens
	// The answer carries no load time; all of it counts as the request's.
	res.Wait = time.Since(t0)
	return res, nil
}
