package fetch

import (
	"github.com/libp2p/go-libp2p"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
)

// StreamWindow is the yamux stream receive window HostOptions sets: one
// stream then carries StreamWindow bytes per round trip (32 MiB over
// 40 ms ≈ 800 MB/s). go-libp2p's default is 16 MiB. The resource
// manager's per-connection memory limit (32 MiB by default) also caps it.
const StreamWindow = 32 << 20

// HostOptions returns the libp2p options a host should add for bulk
// transfer over one stream per peer on long links: a larger yamux window
// (TCP). QUIC's windows are fixed by go-libp2p (10 MB per stream, 15 MB per
// connection).
func HostOptions() []libp2p.Option {
	cfg := *yamux.DefaultTransport.Config()
	cfg.MaxStreamWindowSize = StreamWindow
	t := yamux.Transport(cfg)
	return []libp2p.Option{libp2p.Muxer(yamux.ID, &t)}
}
