package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/chat"
	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/inference/sample"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

func runCommands() []*cli.Command {
	return []*cli.Command{{
		Name:      "run",
		Usage:     "generate text with a GGUF model of the store (pulled from peers when missing), streaming it as it comes",
		ArgsUsage: "ORG/NAME[@REV][/FILE.gguf] PROMPT",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "max-tokens", Usage: "stop after `N` generated tokens (default: until the model ends or the context is full)"},
			&cli.Float64Flag{Name: "temperature", Value: openai.DefaultTemperature, Usage: "sampling temperature; 0 is greedy"},
			&cli.Uint64Flag{Name: "seed", Usage: "random seed (default: a random one)"},
			&cli.IntFlag{Name: "top-k", Value: openai.DefaultTopK, Usage: "keep the `K` most likely tokens; 0 is off"},
			&cli.Float64Flag{Name: "top-p", Value: openai.DefaultTopP, Usage: "nucleus sampling threshold; 1 is off"},
			&cli.Float64Flag{Name: "min-p", Value: openai.DefaultMinP, Usage: "drop tokens less likely than this times the best; 0 is off"},
			&cli.Float64Flag{Name: "repeat-penalty", Value: 1, Usage: "penalty for tokens of the last 64; 1 is off"},
			&cli.Float64Flag{Name: "frequency-penalty", Usage: "subtract this times a token's count in the output so far from its logit (-2..2); 0 is off"},
			&cli.Float64Flag{Name: "presence-penalty", Usage: "subtract this from the logit of every token already in the output (-2..2); 0 is off"},
			&cli.StringSliceFlag{Name: "stop", Usage: "stop at `TEXT` (repeatable)"},
			&cli.BoolFlag{Name: "chat", Usage: "send the prompt as a user message through the model's chat template"},
			&cli.BoolFlag{Name: "verbose", Usage: "print token counts and speeds on stderr"},
			jsonFlag,
		},
		Action: cmdRun,
	}}
}

func cmdRun(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError("run: want ORG/NAME and PROMPT, got %d arguments (quote the prompt)", c.NArg())
	}
	id, prompt := c.Args().Get(0), c.Args().Get(1)
	mid, err := models.ParseID(id)
	if err != nil {
		return usageError("run: %v", err)
	}
	if c.Int("max-tokens") < 0 {
		return usageError("run: --max-tokens %d is negative", c.Int("max-tokens"))
	}
	params := sample.Params{
		Temperature: float32(c.Float64("temperature")), TopK: c.Int("top-k"), TopP: float32(c.Float64("top-p")),
		MinP: float32(c.Float64("min-p")), RepeatPenalty: float32(c.Float64("repeat-penalty")), Seed: c.Uint64("seed"),
		FrequencyPenalty: float32(c.Float64("frequency-penalty")), PresencePenalty: float32(c.Float64("presence-penalty")),
	}
	if !c.IsSet("seed") {
		params.Seed = rand.Uint64()
	}
	if err := params.Validate(); err != nil {
		return usageError("run: %v", err)
	}
	g := openai.Generation{Model: id, Request: inference.Request{
		Prompt: prompt, MaxTokens: c.Int("max-tokens"), Params: params, Stop: c.StringSlice("stop"),
	}}
	if c.Bool("chat") {
		g.Messages = []chat.Message{{Role: "user", Content: prompt}}
	}

	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	d := runningDaemon(c)
	var srv *openai.Server
	if d != nil {
		srv = d.OpenAI
	}
	if srv == nil {
		if d != nil {
			return errors.New("run: local inference is disabled on this node's daemon (inference.disabled)")
		}
		// No daemon: pull what is missing through a short-lived host, as
		// `cairn get` does, then serve from this process.
		if _, err := n.Store.Resolve(c.Context, manifest.Model, mid.Repo, mid.Rev); errors.Is(err, store.ErrRepoNotFound) || errors.Is(err, store.ErrRevisionNotFound) {
			if _, _, err := resolveOrPull(c, n, manifest.Model, refArg{Repo: mid.Repo, Rev: mid.Rev}, c.Bool("json")); err != nil {
				return err
			}
		}
		// Loading and materialising are logged only with --verbose: the
		// terminal is for the generated text.
		log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if c.Bool("verbose") {
			log = slog.Default()
		}
		if srv, err = n.NewOpenAI(log); err != nil {
			return err
		}
		defer srv.Close()
	}

	var emit func(string) error
	if !c.Bool("json") {
		emit = func(piece string) error {
			_, err := io.WriteString(c.App.Writer, piece)
			return err
		}
	}
	res, err := srv.Generate(c.Context, g, emit)
	if err != nil {
		var apiErr *openai.Error
		if errors.As(err, &apiErr) {
			return fmt.Errorf("run %s: %s", id, apiErr.Message)
		}
		return fmt.Errorf("run %s: %w", id, err)
	}
	if c.Bool("json") {
		return printJSON(c, map[string]any{
			"model": id, "text": res.Text, "finish_reason": res.FinishReason,
			"prompt_tokens": res.PromptTokens, "completion_tokens": res.CompletionTokens, "cached_tokens": res.CachedTokens,
			"prefill_tokens_per_s": res.PrefillTokensPerS, "decode_tokens_per_s": res.DecodeTokensPerS,
			"locate_seconds": res.Locate.Seconds(), "load_seconds": res.Load.Seconds(),
		})
	}
	fmt.Fprintln(c.App.Writer)
	if c.Bool("verbose") {
		fmt.Fprintf(c.App.ErrWriter, "prompt %d tokens (%d cached), %.1f tokens/s; generated %d tokens, %.1f tokens/s; load %.2fs; finish %s\n",
			res.PromptTokens, res.CachedTokens, res.PrefillTokensPerS, res.CompletionTokens, res.DecodeTokensPerS, res.Load.Seconds(), res.FinishReason)
	}
	return nil
}
