package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/hfapi"
	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/inference/router"
	"github.com/cairnhub/cairn/metrics"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/auditsync"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/p2p/release"
	"github.com/cairnhub/cairn/provenance"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/repair"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
)

// APISocket is the unix socket in the home on which a running daemon
// accepts commands from the cairn CLI (the store is single-process).
const APISocket = "api.sock"

// DaemonOptions override the config for one run, as `cairn daemon` flags.
type DaemonOptions struct {
	// Listen replaces p2p.listen when not empty.
	Listen []string
	// Bootstrap is added to p2p.bootstrap.
	Bootstrap []string
	// MaxPeers replaces p2p.max_peers when positive.
	MaxPeers int
	// HTTPAddr replaces http.addr when not empty.
	HTTPAddr string
	// CLI serves commands forwarded by the CLI on the API socket. Nil: no
	// socket.
	CLI http.Handler
	// MaxUploadRate and MaxDownloadRate replace p2p.max_upload_rate and
	// p2p.max_download_rate when not empty.
	MaxUploadRate, MaxDownloadRate string
	// Router tunes the inference router (its Logger defaults to Logger).
	Router router.Config
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// wrapLocal, in tests, wraps the local OpenAI server as the router
	// sees it.
	wrapLocal func(router.Local) router.Local
}

// Daemon is a running node: p2p host, bulk fetch server, HTTP API.
type Daemon struct {
	// The HTTP side, laid out by routes.
	HF     *hfapi.Server  // Hugging Face-compatible API
	OpenAI *openai.Server // nil when inference.disabled
	Router *router.Router // OpenAI generation and model requests, local or forwarded

	n      *Node
	log    *slog.Logger
	Engine *sovereignty.Engine
	Audit  *sovereignty.Audit
	Host   *p2p.Host // nil when the node has no certificate
	Fetch  *fetch.Server
	Client *fetch.Client
	swarm  *pull.Swarm
	// Puller pulls revisions from the store or from members.
	Puller *pull.Service
	// stopPulls ends the pulls the HF API started (pull-through).
	stopPulls context.CancelFunc
	self      *sovereignty.Member
	provOnce  sync.Once
	prov      *provenance.Checker
	provErr   error
	// Replicator keeps pinned revisions on their nodes; Gossip is the
	// control plane (gossip.go). Both nil when peer-to-peer is off.
	Replicator *replicate.Service
	Gossip     *gossip.Gossip

	cps      *auditsync.Service // audit checkpoints: members' book, publish hooks
	repair   *repair.Worker     // repair worker and scrub
	releases *release.Service   // quarantine releases between members; nil when peer-to-peer is off

	// denials records refusals, one line per (peer, repo, reason) a
	// minute: a refused peer asks for many blocks.
	denials sovereignty.Auditor

	metrics *metrics.Metrics
	models  *models.Finder

	httpLn    net.Listener
	metricsLn net.Listener // http.metrics_addr; nil: /metrics on httpLn
	apiLn     net.Listener
	http      http.Handler // routes()
	ollama    http.Handler // Ollama's API (newOllama)
	// bomHandler serves revisions' ML-BOMs (bomstore.Handler).
	bomHandler http.Handler
	cli        http.Handler
}

// StartDaemon builds every service and binds every listener, so that
// errors (port in use, bad config) come out here, before Run.
func (n *Node) StartDaemon(ctx context.Context, o DaemonOptions) (d *Daemon, err error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	d = &Daemon{n: n, log: log, cli: o.CLI}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	trust, err := n.Trust()
	if err != nil {
		return nil, err
	}
	if d.Audit, err = n.OpenAudit(); err != nil {
		return nil, err
	}
	d.cps = auditsync.New(auditsync.Config{Log: d.Audit, Self: n.ID, Logger: log})
	// Only this node's own organisation sets its residency policy, even
	// when it trusts other organisations' members (federation).
	if d.Engine, err = n.PolicyEngine(trust, d.Audit); err != nil {
		return nil, err
	}
	d.denials = sovereignty.NewDedupAuditor(d.Audit, time.Minute)

	cert, err := n.Certificate()
	if err != nil {
		return nil, err
	}
	if cert == nil {
		log.Warn("no membership certificate: peer-to-peer is off (see `cairn org join`)")
	} else {
		if err := d.startP2P(ctx, o, trust, cert); err != nil {
			return nil, err
		}
	}
	d.startPull()

	if err := d.startHTTP(ctx, o); err != nil {
		return nil, err
	}
	if err := d.registerSwarmMetrics(); err != nil {
		return nil, err
	}
	if err := d.startIntegrity(); err != nil {
		return nil, err
	}
	addr := n.Config.HTTP.Addr
	if o.HTTPAddr != "" {
		addr = o.HTTPAddr
	}
	if d.httpLn, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("http api: %w", err)
	}
	d.warnOpenHTTP(addr)
	if ma := n.Config.HTTP.MetricsAddr; ma != "" {
		if d.metricsLn, err = net.Listen("tcp", ma); err != nil {
			return nil, fmt.Errorf("http.metrics_addr: %w", err)
		}
	}
	if o.CLI != nil {
		sock := filepath.Join(n.Dir, APISocket)
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return nil, fmt.Errorf("a daemon is running already on %s", sock)
		}
		os.Remove(sock)
		if d.apiLn, err = net.Listen("unix", sock); err != nil {
			return nil, fmt.Errorf("api socket: %w", err)
		}
		os.Chmod(sock, 0o600)
	}
	return d, nil
}

func (d *Daemon) startP2P(ctx context.Context, o DaemonOptions, trust *sovereignty.Trust, cert []byte) error {
	cfg := d.n.Config.P2P
	listen := cfg.Listen
	if len(o.Listen) > 0 {
		listen = o.Listen
	}
	var psk []byte
	if cfg.PSKFile != "" {
		b, err := os.ReadFile(cfg.PSKFile)
		if err != nil {
			return fmt.Errorf("p2p.psk_file: %w", err)
		}
		psk = b
	}
	interop, err := cfg.InteropIDs()
	if err != nil {
		return err
	}
	st := d.n.Store
	hostOpts, err := fetch.HostOptions()
	if err != nil {
		return err
	}
	pc := p2p.Config{
		Key: d.n.Identity, Listen: listen, Bootstrap: append(append([]string{}, cfg.Bootstrap...), o.Bootstrap...),
		MDNS: cfg.MDNS, PSK: psk, InteropPeers: interop, InteropJurisdiction: cfg.InteropJurisdiction,
	}
	if hostOpts, err = d.networkOptions(&pc, o, trust, cert, hostOpts); err != nil {
		return err
	}
	h, err := p2p.New(ctx, pc, p2p.Deps{
		Trust: trust, Certificate: cert, Blockstore: st, Logger: d.log,
		BlockFilter: func(m *sovereignty.Member, c cid.Cid) bool {
			return d.allowBlocks(context.Background(), m, c, "bitswap")
		},
		Roots:   func(ctx context.Context) ([]cid.Cid, error) { return pull.Roots(ctx, st) },
		Options: hostOpts,
		OnRevocations: func(signed []byte) {
			if err := d.n.SaveRevocations(signed); err != nil {
				d.log.Error("save revocations", "err", err)
			}
			d.auditRevocations(signed)
		},
		OnRefused: d.auditRefused,
	})
	if err != nil {
		return err
	}
	d.Host = h
	d.protectRelays(pc.Relays)
	if err := d.startFetch(h, o); err != nil {
		return err
	}
	if err := d.registerCatalog(); err != nil {
		return err
	}
	d.registerReleases()
	d.cps.Serve(ctx, h.Libp2p(), h)
	if m, err := trust.VerifyBytes(cert, d.n.ID.String(), time.Now()); err == nil {
		d.self = m
	} else {
		d.log.Warn("own certificate does not verify", "err", err)
	}
	if err := d.startReplication(); err != nil {
		return err
	}
	return d.startGossip(ctx, trust, home.OwnOrgTrust(cert, trust), cert)
}

// allowBlocks is the one residency check on every path that sends blocks:
// a block (or DAG root) may go to m when at least one repo holding it lets
// m's jurisdiction receive it. A block no repo holds goes to nobody.
func (d *Daemon) allowBlocks(ctx context.Context, m *sovereignty.Member, c cid.Cid, via string) bool {
	repos, err := d.n.Store.ReposOf(ctx, c)
	if err != nil || len(repos) == 0 {
		return false
	}
	var last sovereignty.Decision
	for _, r := range repos {
		last = d.Engine.Decide(sovereignty.Receive, r, m)
		if last.Allow {
			return true
		}
	}
	d.audit(sovereignty.DenyEntry(sovereignty.Receive, repos[0], m, last))
	// Debug: a refused peer asks for many blocks; the audit log keeps one
	// line per peer, repo and reason a minute.
	d.log.Debug("refused blocks", "via", via, "peer", m.PeerID, "cid", c, "reason", last.Reason)
	d.Metrics().RefusedBlock(via)
	return false
}

// HTTPAddr is the bound address of the HTTP API.
func (d *Daemon) HTTPAddr() string { return d.httpLn.Addr().String() }

// Metrics are the daemon's Prometheus metrics.
func (d *Daemon) Metrics() *metrics.Metrics { return d.metrics }

// Node is the opened home the daemon runs.
func (d *Daemon) Node() *Node { return d.n }

// Run serves until ctx ends or a service fails, then stops everything.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	if d.Host != nil {
		run("p2p", d.Host.Run)
		run("fetch", d.Fetch.Run)
		run("replicate", d.Replicator.Run)
		run("gossip", d.repairGossip)
	}
	run("audit checkpoints", d.cps.Run)
	run("integrity", d.repair.Run)
	run("router", d.Router.Run)
	if d.OpenAI != nil {
		run("openai", d.OpenAI.Run)
	}
	run("http", func(ctx context.Context) error { return serveHTTP(ctx, d.httpLn, d.http) })
	if d.metricsLn != nil {
		run("metrics", func(ctx context.Context) error { return serveHTTP(ctx, d.metricsLn, d.metrics.Handler()) })
	}
	if d.apiLn != nil {
		run("api", func(ctx context.Context) error { return serveHTTP(ctx, d.apiLn, d.cli) })
	}
	d.log.Info("daemon running", "peer", d.n.ID, "http", d.HTTPAddr(), "p2p", d.Host != nil)
	<-ctx.Done()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Close releases what StartDaemon bound. The node itself stays open.
func (d *Daemon) Close() error {
	var errs []error
	if d.stopPulls != nil {
		d.stopPulls()
	}
	if d.Router != nil {
		errs = append(errs, d.Router.Close())
	}
	if d.OpenAI != nil {
		errs = append(errs, d.OpenAI.Close())
	}
	if d.Fetch != nil {
		errs = append(errs, d.Fetch.Close())
	}
	if d.Gossip != nil {
		errs = append(errs, d.Gossip.Close())
	}
	if d.Host != nil {
		errs = append(errs, d.Host.Close())
	}
	if d.httpLn != nil {
		d.httpLn.Close()
	}
	if d.metricsLn != nil {
		d.metricsLn.Close()
	}
	if d.apiLn != nil {
		d.apiLn.Close()
		os.Remove(filepath.Join(d.n.Dir, APISocket))
	}
	d.n.setOnCorrupt(nil)
	if d.Audit != nil {
		errs = append(errs, d.Audit.Close())
	}
	return errors.Join(errs...)
}

// Timeouts of the HTTP servers.
const (
	readHeaderTimeout = 10 * time.Second
	shutdownTimeout   = 5 * time.Second
)

func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	}
}
