package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/ipld/merkledag"
	unixfsio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/node"
)

// `cairn block get|cat` fetch raw CIDs from plain IPFS nodes (Kubo) listed in
// p2p.interop_peers, over the standard /ipfs/bitswap protocols. `cairn get`
// and `cairn pull` speak Cairn's own protocols to members only and cannot
// fetch from Kubo; these commands can.

func interopCommands() []*cli.Command {
	fromFlag := &cli.StringSliceFlag{Name: "from", Usage: "dial the interop peer at `MULTIADDR` (…/p2p/ID; its ID must be in p2p.interop_peers) first; repeatable"}
	outFlag := &cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write to `FILE` instead of stdout"}
	timeoutFlag := &cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "give up after `D`"}
	return []*cli.Command{{
		Name:  "block",
		Usage: "fetch raw CIDs from IPFS nodes (Kubo) in p2p.interop_peers over standard bitswap",
		Subcommands: []*cli.Command{{
			Name:      "get",
			Usage:     "write the raw bytes of one block",
			ArgsUsage: "CID",
			Flags:     []cli.Flag{fromFlag, outFlag, timeoutFlag},
			Action:    func(c *cli.Context) error { return cmdBlock(c, false) },
		}, {
			Name:      "cat",
			Usage:     "write the bytes of a UnixFS file DAG, fetching its blocks (what `ipfs cat` prints)",
			ArgsUsage: "CID",
			Flags:     []cli.Flag{fromFlag, outFlag, timeoutFlag},
			Action:    func(c *cli.Context) error { return cmdBlock(c, true) },
		}},
	}}
}

func cmdBlock(c *cli.Context, file bool) (err error) {
	if c.NArg() != 1 {
		return usageError("block %s: want one CID, got %d arguments", c.Command.Name, c.NArg())
	}
	root, err := cid.Decode(c.Args().First())
	if err != nil {
		return usageError("block %s: CID %q: %v", c.Command.Name, c.Args().First(), err)
	}
	var from []peer.AddrInfo
	for _, s := range c.StringSlice("from") {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return usageError("block %s: --from %q: %v", c.Command.Name, s, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			return usageError("block %s: --from %q: want a multiaddr ending in /p2p/<peer ID>: %v", c.Command.Name, s, err)
		}
		from = append(from, *ai)
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()

	d := runningDaemon(c)
	if d == nil {
		n, err := openNode(c)
		if err != nil {
			return err
		}
		defer n.Close()
		if len(n.Config.P2P.InteropPeers) == 0 {
			return errors.New("block: p2p.interop_peers is empty in config.yaml: list the IPFS node's peer ID there (and p2p.interop_jurisdiction)")
		}
		if cert, _ := n.Certificate(); cert == nil {
			return errors.New("block: peer-to-peer is off without a certificate (`cairn org join`)")
		}
		d, err = n.StartDaemon(ctx, node.DaemonOptions{
			HTTPAddr: "127.0.0.1:0",
			Listen:   []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"},
		})
		if err != nil {
			return fmt.Errorf("block: start short-lived host: %w", err)
		}
		defer d.Close()
	}
	if d.Host == nil {
		return errors.New("block: peer-to-peer is off without a certificate (`cairn org join`)")
	}
	ex := d.Host.InteropExchange()
	if ex == nil {
		return errors.New("block: p2p.interop_peers is empty in config.yaml: list the IPFS node's peer ID there (and p2p.interop_jurisdiction)")
	}
	for _, ai := range from {
		if err := d.Host.ConnectInterop(ctx, ai); err != nil {
			return fmt.Errorf("block: --from %s: %w", ai.ID, err)
		}
	}

	var w io.Writer = c.App.Writer
	if out := c.String("out"); out != "" {
		path := pathArg(c, out)
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("block: --out: %w", err)
		}
		w = f
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("block: --out: %w", cerr)
			}
			if err != nil {
				os.Remove(path) // no partial file that looks complete
			}
		}()
	}
	if !file {
		b, err := d.Host.InteropGetBlock(ctx, root)
		if err != nil {
			return fmt.Errorf("block get: %w", err)
		}
		_, err = w.Write(b.RawData())
		return err
	}
	// Blocks arrive verified against their CIDs and stay in the store,
	// unpinned and in no repo: GC removes them, and no peer is served them.
	dag := merkledag.NewDAGService(blockservice.New(d.Node().Store, ex))
	nd, err := dag.Get(ctx, root)
	if err != nil {
		return fmt.Errorf("block cat %s: %w", root, err)
	}
	r, err := unixfsio.NewDagReader(ctx, nd, dag)
	if err != nil {
		return fmt.Errorf("block cat %s: %w", root, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("block cat %s: %w", root, err)
	}
	return nil
}
