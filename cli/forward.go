package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/node"
)

// A running daemon holds the store (badger allows one process), so the CLI
// hands commands to it over the home's unix socket: the daemon runs the
// same command in-process against its open node and streams stdout, stderr
// and the exit code back. Paths in arguments are resolved against the
// caller's working directory (pathArg).

type ctxKey int

const (
	nodeKey ctxKey = iota
	daemonKey
	cwdKey
)

type forwardRequest struct {
	Args []string `json:"args"`
	Cwd  string   `json:"cwd"`
}

// Frame kinds on the forwarded stream.
const (
	frameStdout byte = 1
	frameStderr byte = 2
	frameExit   byte = 3
)

// local commands never go to the daemon: they do not open the store.
var local = map[string]bool{"init": true, "daemon": true, "help": true, "h": true, "version": true}

// commandName is the first argument naming a top-level command.
func commandName(app *cli.App, args []string) string {
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return ""
		}
		if len(a) > 0 && a[0] == '-' {
			i += valueCount(app.Flags, a)
			continue
		}
		return a
	}
	return ""
}

// forward runs args on the daemon of home if one is listening; ok is false
// when there is none.
func forward(ctx context.Context, home string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	sock := filepath.Join(home, node.APISocket)
	if _, err := os.Stat(sock); err != nil {
		return 0, false
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	if c, err := net.Dial("unix", sock); err != nil {
		return 0, false // stale socket: no daemon
	} else {
		c.Close()
	}
	cwd, _ := os.Getwd()
	body, _ := json.Marshal(forwardRequest{Args: args, Cwd: cwd})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://cairn/run", bytes.NewReader(body))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "cairn: daemon:", err)
		return 1, true
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for {
		kind, err := r.ReadByte()
		if err != nil {
			fmt.Fprintln(stderr, "cairn: daemon closed the stream before the command ended")
			return 1, true
		}
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return 1, true
		}
		switch kind {
		case frameStdout:
			io.CopyN(stdout, r, int64(n))
		case frameStderr:
			io.CopyN(stderr, r, int64(n))
		case frameExit:
			return int(n), true
		default:
			fmt.Fprintln(stderr, "cairn: daemon sent a bad frame")
			return 1, true
		}
	}
}

// frameWriter writes one kind of frame, flushing each write to the client.
type frameWriter struct {
	mu   *sync.Mutex
	w    http.ResponseWriter
	kind byte
}

func (f frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hdr [5]byte
	hdr[0] = f.kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := f.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// DaemonHandler runs forwarded commands against the daemon's open node.
func DaemonHandler(d *node.Daemon) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req forwardRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || len(req.Args) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var mu sync.Mutex
		out := frameWriter{&mu, w, frameStdout}
		errw := frameWriter{&mu, w, frameStderr}
		ctx := context.WithValue(r.Context(), nodeKey, d.Node())
		ctx = context.WithValue(ctx, daemonKey, d)
		ctx = context.WithValue(ctx, cwdKey, req.Cwd)
		code := runApp(ctx, req.Args, out, errw)
		mu.Lock()
		var hdr [5]byte
		hdr[0] = frameExit
		binary.BigEndian.PutUint32(hdr[1:], uint32(code))
		w.Write(hdr[:])
		mu.Unlock()
	})
}

// pathArg resolves a path argument against the caller's directory.
func pathArg(c *cli.Context, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if cwd, ok := c.Context.Value(cwdKey).(string); ok && cwd != "" {
		return filepath.Join(cwd, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// runningDaemon is the daemon a forwarded command runs in, if any.
func runningDaemon(c *cli.Context) *node.Daemon {
	d, _ := c.Context.Value(daemonKey).(*node.Daemon)
	return d
}

// lazyHandler serves forwarded commands once the daemon exists.
func lazyHandler(get func() *node.Daemon) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		DaemonHandler(get()).ServeHTTP(w, r)
	})
}
