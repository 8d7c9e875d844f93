package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// maxPerplexityText bounds the text file read whole into memory.
const maxPerplexityText = 256 << 20

func perplexityCommands() []*cli.Command {
	return []*cli.Command{{
		Name:      "perplexity",
		Usage:     "perplexity of a GGUF model of the store over a text file, chunked as llama-perplexity does",
		ArgsUsage: "ORG/NAME[@REV][/FILE.gguf] FILE",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "ctx", Usage: fmt.Sprintf("chunk length in `TOKENS` (llama-perplexity's -c; default %d, or the model's context if smaller)", inference.DefaultPerplexityContext)},
			&cli.IntFlag{Name: "chunks", Usage: "score at most `N` chunks (default: all)"},
			jsonFlag,
		},
		Action: cmdPerplexity,
	}}
}

func cmdPerplexity(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError("perplexity: want ORG/NAME and FILE, got %d arguments", c.NArg())
	}
	id, file := c.Args().Get(0), pathArg(c, c.Args().Get(1))
	mid, err := models.ParseID(id)
	if err != nil {
		return usageError("perplexity: %v", err)
	}
	if c.Int("ctx") < 0 || c.Int("chunks") < 0 {
		return usageError("perplexity: --ctx and --chunks must not be negative")
	}
	text, err := readText(file)
	if err != nil {
		return err
	}
	path, err := locateModel(c, id, mid)
	if err != nil {
		return err
	}
	m, err := inference.Open(path)
	if err != nil {
		return fmt.Errorf("perplexity: load %s: %w", id, err)
	}
	defer m.Close()
	quiet := c.Bool("json")
	o := inference.PerplexityOptions{Context: c.Int("ctx"), Chunks: c.Int("chunks")}
	if !quiet {
		fmt.Fprintf(c.App.ErrWriter, "perplexity: %s over %s\n", id, file)
		o.Progress = func(done, total int, ppl float64) {
			fmt.Fprintf(c.App.ErrWriter, "[%d/%d] %.4f\n", done, total, ppl)
		}
	}
	res, err := m.Perplexity(c.Context, text, o)
	if err != nil {
		return fmt.Errorf("perplexity %s: %w", id, err)
	}
	if quiet {
		return printJSON(c, map[string]any{
			"model": id, "file": file, "ppl": res.PPL, "stderr": res.StdErr, "ctx": res.Context,
			"chunks": res.Chunks, "tokens": res.Tokens, "scored": res.Scored, "seconds": res.Duration.Seconds(),
		})
	}
	fmt.Fprintf(c.App.Writer, "Final estimate: PPL = %.4f +/- %.5f\n", res.PPL, res.StdErr)
	fmt.Fprintf(c.App.ErrWriter, "%d chunks of %d tokens (%d tokens in the text, %d scored) in %.2fs\n",
		res.Chunks, res.Context, res.Tokens, res.Scored, res.Duration.Seconds())
	return nil
}

func readText(file string) (string, error) {
	st, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("perplexity: %w", err)
	}
	if st.Size() > maxPerplexityText {
		return "", fmt.Errorf("perplexity: %s is %d bytes, more than %d", file, st.Size(), maxPerplexityText)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("perplexity: %w", err)
	}
	return string(b), nil
}

// locateModel is the GGUF file of id: through the running daemon (which
// pulls from members), or from the store, pulled first when missing.
func locateModel(c *cli.Context, id string, mid models.ID) (string, error) {
	if d := runningDaemon(c); d != nil && d.Models() != nil {
		return d.Models().Locate(c.Context, id)
	}
	n, err := openNode(c)
	if err != nil {
		return "", err
	}
	defer n.Close()
	if _, err := n.Store.Resolve(c.Context, manifest.Model, mid.Repo, mid.Rev); errors.Is(err, store.ErrRepoNotFound) || errors.Is(err, store.ErrRevisionNotFound) {
		if _, _, err := resolveOrPull(c, n, manifest.Model, refArg{Repo: mid.Repo, Rev: mid.Rev}, c.Bool("json")); err != nil {
			return "", err
		}
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return models.New(n.Store, filepath.Join(n.Dir, home.ModelsDir), nil, log).Locate(c.Context, id)
}
