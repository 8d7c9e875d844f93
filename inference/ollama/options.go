package ollama

import (
	"encoding/json"
	"math"
	"time"

	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/inference/sample"
)

// Ollama's sampling defaults, applied when a request leaves an option out.
const (
	DefaultTemperature   = 0.8
	DefaultTopK          = 40
	DefaultTopP          = 0.9
	DefaultRepeatPenalty = 1.1
	DefaultRepeatLastN   = 64
)

// Options are the options Cairn applies; the rest of Ollama's are
// accepted and ignored (see the package doc).
type Options struct {
	Temperature      *float64 `json:"temperature"`
	TopK             *int     `json:"top_k"`
	TopP             *float64 `json:"top_p"`
	MinP             *float64 `json:"min_p"`
	Seed             *int64   `json:"seed"`
	NumPredict       *int     `json:"num_predict"`
	Stop             []string `json:"stop"`
	RepeatPenalty    *float64 `json:"repeat_penalty"`
	RepeatLastN      *int     `json:"repeat_last_n"`
	PresencePenalty  *float64 `json:"presence_penalty"`
	FrequencyPenalty *float64 `json:"frequency_penalty"`
}

// request applies o to req: sampling, stop strings and token budget.
func (o *Options) request(req *inference.Request) error {
	p := sample.Params{Temperature: DefaultTemperature, TopK: DefaultTopK, TopP: DefaultTopP,
		RepeatPenalty: DefaultRepeatPenalty, RepeatLastN: DefaultRepeatLastN, Seed: uint64(time.Now().UnixNano())}
	if err := o.sampling(&p); err != nil {
		return err
	}
	req.Params = p
	if len(o.Stop) > openai.MaxStops {
		return badRequest("options.stop: at most %d stop strings", openai.MaxStops)
	}
	for _, s := range o.Stop {
		if s == "" || len(s) > openai.MaxStopLen {
			return badRequest("options.stop: a stop string must be 1 to %d bytes", openai.MaxStopLen)
		}
	}
	req.Stop = o.Stop
	if o.NumPredict != nil {
		switch n := *o.NumPredict; {
		case n >= 0:
			req.MaxTokens = n
		case n == -1 || n == -2: // Ollama: -1 unbounded, -2 fill the context
		default:
			return badRequest("options.num_predict: %d: want -2, -1 or a count", n)
		}
	}
	return nil
}

func (o *Options) sampling(p *sample.Params) error {
	if err := setFloat(&p.Temperature, o.Temperature, "temperature", 0, 100); err != nil {
		return err
	}
	if err := setFloat(&p.TopP, o.TopP, "top_p", 0, 1); err != nil {
		return err
	}
	if err := setFloat(&p.MinP, o.MinP, "min_p", 0, 1); err != nil {
		return err
	}
	if err := setFloat(&p.RepeatPenalty, o.RepeatPenalty, "repeat_penalty", 0, 100); err != nil {
		return err
	}
	if err := setFloat(&p.PresencePenalty, o.PresencePenalty, "presence_penalty", -sample.MaxPenalty, sample.MaxPenalty); err != nil {
		return err
	}
	if err := setFloat(&p.FrequencyPenalty, o.FrequencyPenalty, "frequency_penalty", -sample.MaxPenalty, sample.MaxPenalty); err != nil {
		return err
	}
	if o.TopK != nil {
		if *o.TopK < 0 {
			return badRequest("options.top_k: %d: must not be negative", *o.TopK)
		}
		p.TopK = *o.TopK
	}
	if o.RepeatLastN != nil {
		if *o.RepeatLastN < -1 {
			return badRequest("options.repeat_last_n: %d: want -1 or more", *o.RepeatLastN)
		}
		p.RepeatLastN = *o.RepeatLastN
		if p.RepeatLastN == 0 {
			p.RepeatPenalty = 0 // Ollama: 0 disables the penalty
		}
	}
	if o.Seed != nil && *o.Seed >= 0 { // Ollama: -1 is a random seed
		p.Seed = uint64(*o.Seed)
	}
	return nil
}

func setFloat(dst *float32, v *float64, name string, lo, hi float64) error {
	if v == nil {
		return nil
	}
	if math.IsNaN(*v) || *v < lo || *v > hi {
		return badRequest("options.%s: %v: want %v to %v", name, *v, lo, hi)
	}
	*dst = float32(*v)
	return nil
}

// keepAlive parses Ollama's keep_alive ("5m", seconds, negative = forever).
func keepAlive(raw json.RawMessage) (*time.Duration, error) {
	if isNull(raw) {
		return nil, nil
	}
	d, err := openai.ParseKeepAlive(raw)
	if err != nil {
		return nil, badRequest("keep_alive: %v", err)
	}
	return &d, nil
}

func isNull(raw json.RawMessage) bool {
	s := string(raw)
	return len(raw) == 0 || s == "null"
}
