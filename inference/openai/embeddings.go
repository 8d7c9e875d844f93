package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/cairnhub/cairn/inference"
)

// MaxEmbeddingInputs bounds the inputs of one embeddings request
// (OpenAI's limit).
const MaxEmbeddingInputs = 2048

// Embedding is one embeddings request as the server runs it, from
// /v1/embeddings, Ollama's /api/embed or Go.
type Embedding struct {
	// Model is the model id.
	Model string
	// Inputs are the texts (or token ids) to embed.
	Inputs []inference.EmbedInput
	// Truncate cuts inputs longer than the context instead of refusing
	// them (an extension; Ollama's truncate).
	Truncate bool
	// Dimensions, when not 0, must equal the model's embedding length:
	// shortening embeddings is refused.
	Dimensions int
	// KeepAlive is as in Generation.
	KeepAlive *time.Duration
}

// EmbeddingResult is the outcome of an Embedding.
type EmbeddingResult struct {
	Embeddings []inference.Embedding
	// PromptTokens counts the tokens embedded, over all inputs.
	PromptTokens int
	// Locate, Load and Wait are as in Result.
	Locate, Load, Wait time.Duration
}

// Embed runs e on its model: located, queued for a place, loaded when
// needed. A model that generates text is refused (400
// model_not_embedding): Cairn does not pool the hidden states of chat
// models. Errors of the request's making are *Error.
func (s *Server) Embed(ctx context.Context, e Embedding) (EmbeddingResult, error) {
	var res EmbeddingResult
	t0 := time.Now()
	path, err := s.models.Locate(ctx, e.Model)
	res.Locate = time.Since(t0)
	if err != nil {
		if errors.Is(err, ErrModelNotFound) {
			return res, &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model", Code: "model_not_found",
				Message: fmt.Sprintf("the model %q does not exist: %v", e.Model, err)}
		}
		return res, err
	}
	start := time.Now()
	sl, err := s.enter(ctx, e.Model, path)
	if err != nil {
		return res, err
	}
	keep := s.cfg.KeepAlive
	if e.KeepAlive != nil {
		keep = *e.KeepAlive
	}
	defer func() { s.leave(sl, keep) }()
	var lr Result
	err = s.ensureLoaded(ctx, sl, e.Model, &lr)
	res.Load = lr.Load
	if res.Wait = time.Since(start) - res.Load; err != nil {
		return res, err
	}
	if err := checkEmbedding(e, sl.model.Info(), sl.model.IsEmbedding()); err != nil {
		return res, err
	}
	res.Embeddings, err = sl.model.Embed(ctx, e.Inputs, inference.EmbedOptions{Truncate: e.Truncate})
	if errors.Is(err, inference.ErrContextLength) {
		return res, invalid("input", "context_length_exceeded", "%v (send \"truncate\": true to cut long inputs)", err)
	}
	for _, em := range res.Embeddings {
		res.PromptTokens += em.Tokens
	}
	s.log.Debug("embedding", "model", e.Model, "inputs", len(e.Inputs), "tokens", res.PromptTokens, "err", err)
	return res, err
}

// checkEmbedding refuses what the loaded model cannot do for e.
func checkEmbedding(e Embedding, info inference.Info, embeds bool) *Error {
	if !embeds {
		return invalid("model", "model_not_embedding", "the model %q is a %s model that generates text, not an embedding model: embeddings come from bert or nomic-bert models", e.Model, info.Arch)
	}
	if e.Dimensions != 0 && e.Dimensions != info.EmbeddingLength {
		return invalid("dimensions", "unsupported_value", "the model %q gives embeddings of %d dimensions; 'dimensions' %d is not supported (embeddings are not shortened)", e.Model, info.EmbeddingLength, e.Dimensions)
	}
	for i, in := range e.Inputs {
		for _, id := range in.Tokens {
			if id < 0 || int(id) >= info.VocabSize {
				return invalid("input", "invalid_value", "input %d: token %d is outside the vocabulary of %d", i, id, info.VocabSize)
			}
		}
	}
	return nil
}

// embeddingsRequest is the body of /v1/embeddings.
type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	User           string          `json:"user"`
	Truncate       bool            `json:"truncate"`
	KeepAlive      json.RawMessage `json:"keep_alive"`
}

// parseEmbeddings validates a /v1/embeddings body; base64 reports
// encoding_format "base64".
func parseEmbeddings(body []byte) (e Embedding, base64Out bool, apiErr *Error) {
	var r embeddingsRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return e, false, invalid(te.Field, "invalid_type", "invalid type for %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return e, false, invalid("", "invalid_json", "could not parse the JSON body of the request: %v", err)
	}
	if dec.More() {
		return e, false, invalid("", "invalid_json", "could not parse the JSON body of the request: data after the object")
	}
	if r.Model == "" {
		return e, false, invalid("model", "missing_required_parameter", "you must provide a model parameter")
	}
	e.Model, e.Truncate = r.Model, r.Truncate
	switch r.EncodingFormat {
	case "", "float":
	case "base64":
		base64Out = true
	default:
		return e, false, invalid("encoding_format", "invalid_value", "encoding_format %q: want \"float\" or \"base64\"", r.EncodingFormat)
	}
	if r.Dimensions != nil {
		if *r.Dimensions <= 0 {
			return e, false, invalid("dimensions", "invalid_value", "dimensions must be positive, got %d", *r.Dimensions)
		}
		e.Dimensions = *r.Dimensions
	}
	inputs, err := parseEmbeddingInput(r.Input)
	if err != nil {
		return e, false, invalid("input", "invalid_value", "input: %v", err)
	}
	e.Inputs = inputs
	if !isNull(r.KeepAlive) {
		d, err := ParseKeepAlive(r.KeepAlive)
		if err != nil {
			return e, false, invalid("keep_alive", "invalid_value", "keep_alive: %v", err)
		}
		e.KeepAlive = &d
	}
	return e, base64Out, nil
}

// parseEmbeddingInput reads OpenAI's input: a string, an array of
// strings, an array of token ids, or an array of such arrays.
func parseEmbeddingInput(raw json.RawMessage) ([]inference.EmbedInput, error) {
	if isNull(raw) {
		return nil, errors.New("missing required parameter 'input'")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, errors.New("the input is an empty string")
		}
		return []inference.EmbedInput{{Text: one}}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("want a string, an array of strings, an array of token ids or an array of arrays of token ids")
	}
	if len(list) == 0 || len(list) > MaxEmbeddingInputs {
		return nil, fmt.Errorf("%d inputs: want 1 to %d", len(list), MaxEmbeddingInputs)
	}
	var ids []int32
	if json.Unmarshal(raw, &ids) == nil {
		return []inference.EmbedInput{{Tokens: ids}}, nil
	}
	out := make([]inference.EmbedInput, len(list))
	for i, item := range list {
		var s string
		if json.Unmarshal(item, &s) == nil {
			if s == "" {
				return nil, fmt.Errorf("input %d is an empty string", i)
			}
			out[i].Text = s
			continue
		}
		if json.Unmarshal(item, &out[i].Tokens) != nil || len(out[i].Tokens) == 0 {
			return nil, fmt.Errorf("input %d is neither a non-empty string nor a non-empty array of token ids", i)
		}
	}
	return out, nil
}

// embeddingObject is one entry of the answer's data: Embedding is a list
// of floats or, for encoding_format base64, the little-endian float32
// bytes in base64.
type embeddingObject struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type embeddingsResponse struct {
	Object string            `json:"object"`
	Data   []embeddingObject `json:"data"`
	Model  string            `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		WriteError(w, &Error{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
			Message: fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)})
		return
	}
	e, b64, apiErr := parseEmbeddings(body)
	if apiErr != nil {
		WriteError(w, apiErr)
		return
	}
	res, err := s.Embed(r.Context(), e)
	if err != nil {
		var apiErr *Error
		switch {
		case r.Context().Err() != nil: // the client went away
		case errors.As(err, &apiErr):
			WriteError(w, apiErr)
		default:
			s.serverError(w, "embed with "+e.Model, err)
		}
		return
	}
	out := embeddingsResponse{Object: "list", Model: e.Model, Data: make([]embeddingObject, len(res.Embeddings))}
	for i, em := range res.Embeddings {
		var v any = em.Vector
		if b64 {
			v = vectorBase64(em.Vector)
		}
		out.Data[i] = embeddingObject{Object: "embedding", Index: i, Embedding: v}
	}
	out.Usage.PromptTokens, out.Usage.TotalTokens = res.PromptTokens, res.PromptTokens
	writeJSON(w, out)
}

// vectorBase64 is v as OpenAI's base64 encoding: little-endian float32s.
func vectorBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}
