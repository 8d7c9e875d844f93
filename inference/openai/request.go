package openai

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/chat"
	"github.com/cairnhub/cairn/inference/sample"
)

// Sampling defaults when a request leaves a parameter out: llama.cpp's.
const (
	DefaultTemperature = 0.8
	DefaultTopK        = 40
	DefaultTopP        = 0.95
	DefaultMinP        = 0.05
)

// Limits on what one request may carry.
const (
	MaxBodyBytes = 16 << 20
	MaxStops     = 16
	MaxStopLen   = 1024
	MaxMessages  = 4096
)

// Generation is one request as the server runs it, from either endpoint
// or from Go (cairn run).
type Generation struct {
	// Model is the model id.
	Model string
	// Messages, when not nil, are rendered with the model's chat template
	// (with the assistant's turn opened) and replace Request.Prompt.
	Messages []chat.Message
	// Request carries the prompt (or token ids), MaxTokens, sampling and
	// stop strings.
	Request inference.Request
	// KeepAlive, when set, is how long the model stays loaded after this
	// request: 0 unloads it right after, negative keeps it loaded. Nil:
	// the server's default.
	KeepAlive *time.Duration
}

// apiRequest is the body of /v1/completions and /v1/chat/completions; the
// fields that take several JSON types are decoded by hand.
type apiRequest struct {
	Model               string          `json:"model"`
	Prompt              json.RawMessage `json:"prompt"`
	Messages            []apiMessage    `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"`
	MinP                *float64        `json:"min_p"`
	RepeatPenalty       *float64        `json:"repeat_penalty"`
	Seed                *int64          `json:"seed"`
	Stop                json.RawMessage `json:"stop"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	N                   *int            `json:"n"`
	BestOf              *int            `json:"best_of"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	KeepAlive      json.RawMessage `json:"keep_alive"`
	Echo           bool            `json:"echo"`
	Suffix         *string         `json:"suffix"`
	Logprobs       json.RawMessage `json:"logprobs"`
	TopLogprobs    *int            `json:"top_logprobs"`
	Tools          json.RawMessage `json:"tools"`
	Functions      json.RawMessage `json:"functions"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format"`
	IgnoreEOS bool `json:"ignore_eos"`
}

type apiMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// parsed is a validated request.
type parsed struct {
	gen          Generation
	stream       bool
	includeUsage bool
	echo         bool
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// parseRequest validates a request body for the chat or the completions
// endpoint. The checks run in a fixed order, so the error a request gets
// is the first of: body, stream options, model, messages or prompt,
// max_tokens, unsupported parameters, sampling, stop, keep_alive.
func parseRequest(body []byte, isChat bool) (*parsed, *Error) {
	r, e := decodeRequest(body)
	if e != nil {
		return nil, e
	}
	p := &parsed{stream: r.Stream, echo: r.Echo}
	if r.StreamOptions != nil {
		if !r.Stream {
			return nil, invalid("stream_options", "invalid_value", "stream_options is only allowed when stream is true")
		}
		p.includeUsage = r.StreamOptions.IncludeUsage
	}
	g := &p.gen
	if r.Model == "" {
		return nil, invalid("model", "missing_required_parameter", "you must provide a model parameter")
	}
	g.Model = r.Model
	input := completionInput
	if isChat {
		input = chatInput
	}
	for _, step := range []func(*apiRequest, *Generation) *Error{input, maxTokens, unsupported, sampling, stopAndKeepAlive} {
		if e := step(r, g); e != nil {
			return nil, e
		}
	}
	return p, nil
}

// decodeRequest decodes one JSON object and nothing after it.
func decodeRequest(body []byte) (*apiRequest, *Error) {
	var r apiRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalid(te.Field, "invalid_type", "invalid type for %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return nil, invalid("", "invalid_json", "could not parse the JSON body of the request: %v", err)
	}
	if dec.More() {
		return nil, invalid("", "invalid_json", "could not parse the JSON body of the request: data after the object")
	}
	return &r, nil
}

// chatInput reads the messages of a chat request.
func chatInput(r *apiRequest, g *Generation) *Error {
	if r.Messages == nil {
		return invalid("messages", "missing_required_parameter", "missing required parameter: 'messages'")
	}
	if len(r.Messages) == 0 {
		return invalid("messages", "invalid_value", "'messages' must hold at least one message")
	}
	if len(r.Messages) > MaxMessages {
		return invalid("messages", "invalid_value", "'messages' holds %d messages, at most %d", len(r.Messages), MaxMessages)
	}
	g.Messages = make([]chat.Message, len(r.Messages))
	for i, m := range r.Messages {
		param := fmt.Sprintf("messages[%d]", i)
		if m.Role == "" {
			return invalid(param+".role", "missing_required_parameter", "%s has no role", param)
		}
		text, err := messageText(m.Content)
		if err != nil {
			return invalid(param+".content", "invalid_value", "%s.content: %v", param, err)
		}
		role := m.Role
		if role == "developer" { // OpenAI's newer name for system
			role = "system"
		}
		g.Messages[i] = chat.Message{Role: role, Content: text}
	}
	if !isNull(r.Prompt) {
		return invalid("prompt", "invalid_value", "'prompt' is for /v1/completions; chat takes 'messages'")
	}
	if r.Echo {
		return invalid("echo", "unsupported_parameter", "'echo' is for /v1/completions")
	}
	return nil
}

// completionInput reads the prompt of a completions request.
func completionInput(r *apiRequest, g *Generation) *Error {
	if isNull(r.Prompt) {
		return invalid("prompt", "missing_required_parameter", "missing required parameter: 'prompt'")
	}
	if err := parsePrompt(r.Prompt, &g.Request); err != nil {
		return invalid("prompt", "invalid_value", "prompt: %v", err)
	}
	if r.Messages != nil {
		return invalid("messages", "invalid_value", "'messages' is for /v1/chat/completions; completions take 'prompt'")
	}
	if r.Suffix != nil && *r.Suffix != "" {
		return invalid("suffix", "unsupported_parameter", "'suffix' (fill in the middle) is not supported")
	}
	return nil
}

// maxTokens reads max_completion_tokens, or else max_tokens.
func maxTokens(r *apiRequest, g *Generation) *Error {
	maxTokens := r.MaxTokens
	param := "max_tokens"
	if r.MaxCompletionTokens != nil {
		maxTokens, param = r.MaxCompletionTokens, "max_completion_tokens"
	}
	if maxTokens != nil {
		if *maxTokens < 1 {
			return invalid(param, "invalid_value", "%s is %d; it must be at least 1", param, *maxTokens)
		}
		g.Request.MaxTokens = *maxTokens
	}
	return nil
}

// unsupported refuses the parameters the server does not implement, unless
// they ask for what it does anyway.
func unsupported(r *apiRequest, _ *Generation) *Error {
	logprobs := string(bytes.TrimSpace(r.Logprobs))
	switch {
	case r.N != nil && *r.N != 1:
		return invalid("n", "invalid_value", "n is %d; only 1 choice per request is supported", *r.N)
	case r.BestOf != nil && *r.BestOf != 1:
		return invalid("best_of", "invalid_value", "best_of is %d; only 1 is supported", *r.BestOf)
	case !isNull(r.Logprobs) && logprobs != "false" && logprobs != "0":
		return invalid("logprobs", "unsupported_parameter", "logprobs are not supported")
	case r.TopLogprobs != nil && *r.TopLogprobs != 0:
		return invalid("top_logprobs", "unsupported_parameter", "top_logprobs are not supported")
	case !isNull(r.Tools) && string(bytes.TrimSpace(r.Tools)) != "[]":
		return invalid("tools", "unsupported_parameter", "tool calls are not supported")
	case !isNull(r.Functions):
		return invalid("functions", "unsupported_parameter", "function calls are not supported")
	case r.ResponseFormat != nil && r.ResponseFormat.Type != "" && r.ResponseFormat.Type != "text":
		return invalid("response_format", "unsupported_parameter", "response_format %q is not supported (only \"text\")", r.ResponseFormat.Type)
	}
	return nil
}

// sampling reads the sampling parameters over llama.cpp's defaults.
func sampling(r *apiRequest, g *Generation) *Error {
	sp := sample.Params{Temperature: DefaultTemperature, TopK: DefaultTopK, TopP: DefaultTopP, MinP: DefaultMinP}
	// Each parameter is read in turn; the first out of range is the error.
	if e := cmp.Or(
		floatParam("temperature", r.Temperature, 0, 2, &sp.Temperature),
		floatParam("top_p", r.TopP, 0, 1, &sp.TopP),
		topK(r.TopK, &sp.TopK),
		floatParam("min_p", r.MinP, 0, 1, &sp.MinP),
		floatParam("repeat_penalty", r.RepeatPenalty, 0, 10, &sp.RepeatPenalty),
		floatParam("frequency_penalty", r.FrequencyPenalty, -2, 2, &sp.FrequencyPenalty),
		floatParam("presence_penalty", r.PresencePenalty, -2, 2, &sp.PresencePenalty),
	); e != nil {
		return e
	}
	if r.Seed != nil {
		sp.Seed = uint64(*r.Seed)
	} else {
		sp.Seed = rand.Uint64()
	}
	if err := sp.Validate(); err != nil {
		return invalid("", "invalid_value", "sampling parameters: %v", err)
	}
	g.Request.Params = sp
	g.Request.IgnoreEOS = r.IgnoreEOS
	return nil
}

// floatParam sets *dst to *v when v is given and in [lo, hi].
func floatParam(name string, v *float64, lo, hi float64, dst *float32) *Error {
	if v == nil {
		return nil
	}
	if !inRange(*v, lo, hi) {
		return invalid(name, "invalid_value", "%s is %v; it must be between %v and %v", name, *v, lo, hi)
	}
	*dst = float32(*v)
	return nil
}

// topK sets *dst to *v when v is given and not negative.
func topK(v *int, dst *int) *Error {
	if v == nil {
		return nil
	}
	if *v < 0 {
		return invalid("top_k", "invalid_value", "top_k is %d; it must be 0 (off) or more", *v)
	}
	*dst = *v
	return nil
}

// stopAndKeepAlive reads the stop strings and keep_alive.
func stopAndKeepAlive(r *apiRequest, g *Generation) *Error {
	stops, err := parseStop(r.Stop)
	if err != nil {
		return invalid("stop", "invalid_value", "stop: %v", err)
	}
	g.Request.Stop = stops
	if !isNull(r.KeepAlive) {
		d, err := ParseKeepAlive(r.KeepAlive)
		if err != nil {
			return invalid("keep_alive", "invalid_value", "keep_alive: %v", err)
		}
		g.KeepAlive = &d
	}
	return nil
}

func inRange(v, lo, hi float64) bool { return !math.IsNaN(v) && v >= lo && v <= hi }

// messageText is a message's content: a string, null, or an array of
// {"type":"text","text":...} parts, concatenated.
func messageText(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("want a string or an array of text parts")
	}
	var b strings.Builder
	for i, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", fmt.Errorf("part %d is of type %q; only text parts are supported", i, p.Type)
		}
		b.WriteString(*p.Text)
	}
	return b.String(), nil
}

// parsePrompt reads a completions prompt: a string, an array holding one
// string, or an array of token ids (or one such array).
func parsePrompt(raw json.RawMessage, req *inference.Request) error {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		req.Prompt = s
		return nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err == nil {
		if len(ss) != 1 {
			return fmt.Errorf("an array of %d prompts; only one prompt per request is supported", len(ss))
		}
		req.Prompt = ss[0]
		return nil
	}
	var ids []int32
	if err := json.Unmarshal(raw, &ids); err != nil {
		var nested [][]int32
		if err := json.Unmarshal(raw, &nested); err != nil {
			return errors.New("want a string, an array of one string, or an array of token ids")
		}
		if len(nested) != 1 {
			return fmt.Errorf("%d token arrays; only one prompt per request is supported", len(nested))
		}
		ids = nested[0]
	}
	if len(ids) == 0 {
		return errors.New("empty array of token ids")
	}
	req.Tokens = ids
	return nil
}

// parseStop reads "stop": null, a string, or an array of strings.
func parseStop(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var stops []string
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		stops = []string{s}
	} else if err := json.Unmarshal(raw, &stops); err != nil {
		return nil, errors.New("want a string or an array of strings")
	}
	if len(stops) > MaxStops {
		return nil, fmt.Errorf("%d stop strings, at most %d", len(stops), MaxStops)
	}
	out := stops[:0]
	for _, s := range stops {
		if len(s) > MaxStopLen {
			return nil, fmt.Errorf("stop string of %d bytes, at most %d", len(s), MaxStopLen)
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// ParseKeepAlive reads Ollama's keep_alive: a JSON number of seconds or a
// string holding a Go duration ("5m", "1h30m") or a number of seconds
// ("300", "-1"). Negative means forever.
func ParseKeepAlive(raw json.RawMessage) (time.Duration, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return secondsDuration(f)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, errors.New("want a duration such as \"5m\" or a number of seconds")
	}
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsDuration(v)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration such as \"5m\" nor a number of seconds", s)
	}
	return d, nil
}

func secondsDuration(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not a number of seconds")
	}
	if f < 0 {
		return -1, nil
	}
	if f > float64(math.MaxInt64/int64(time.Second)) {
		return 0, fmt.Errorf("%v seconds is too long", f)
	}
	return time.Duration(f * float64(time.Second)), nil
}
