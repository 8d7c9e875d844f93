package fetch

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

// StreamWindow is the most yamux stream receive window HostOptions lets
// a stream grow to (go-libp2p's default is 16 MiB). yamux sends a window
// update when half the window is read, so a stream carries between half
// and all of it per round trip; measured over 40 ms (bare stream through
// a delaying proxy): 32 MiB 0.25 GB/s, 64 MiB 0.37 GB/s. The
// window is an allowance, not a buffer: memory is used only while the
// reader lags (a 4 GiB fetch's receiver peaked at 108 MiB RSS with it).
const StreamWindow = 64 << 20

// StartWindow is the receive window a yamux stream starts with (yamux's
// default is 256 KiB). yamux grows a window only when half of it is read
// within four of the session's measured round trips; on loopback or a
// LAN that round trip (a ping) is far shorter than the hop a window
// update takes through both ends' goroutines, so a window stayed at its
// start and a 512 MiB fetch from one peer waited on updates most of the
// time (the server blocked on the send window while the client blocked
// on data). Like StreamWindow it is an allowance, not a buffer.
const StartWindow = 16 << 20

// FrameSize is the largest yamux frame a host sends (yamux's default is
// 64 KiB). Every frame costs a buffer, a copy and a hand-over to yamux's
// sending goroutine, and a frame is what batchTLS gathers into one write;
// a 1 MiB block went out as 16 frames. Larger frames would hold other
// streams of the connection (control messages) longer behind a bulk one.
const FrameSize = 256 << 10

// HostOptions returns the libp2p options a host should add for bulk
// transfer over one stream per peer: a larger yamux window (TCP), from
// the start, and a resource manager that lets the window grow to it. yamux
// grows a window only while the scopes it reserves in (the connection's
// and its parents) stay under half their memory limit (priority 128 of
// 255), so go-libp2p's default limits (32 MiB per connection, 16 MiB per
// stream and per protocol and peer) would stop it far below StreamWindow.
// Other limits stay go-libp2p's defaults, scaled to the machine. QUIC's
// windows are fixed by go-libp2p (10 MB per stream, 15 MB per connection).
// TLS, the security go-libp2p prefers, writes through batchTLS; Noise
// stays second, as in go-libp2p's defaults.
func HostOptions() ([]libp2p.Option, error) {
	cfg := *yamux.DefaultTransport.Config()
	cfg.MaxStreamWindowSize = StreamWindow
	cfg.InitialStreamWindowSize = StartWindow
	cfg.MaxMessageSize = FrameSize
	t := yamux.Transport(cfg)

	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	const room = 4 * StreamWindow // twice the window, twice over: two streams per peer
	partial := rcmgr.PartialLimitConfig{
		Conn:         rcmgr.ResourceLimits{Memory: rcmgr.LimitVal64(room)},
		Stream:       rcmgr.ResourceLimits{Memory: rcmgr.LimitVal64(room / 2)},
		PeerDefault:  rcmgr.ResourceLimits{Memory: rcmgr.LimitVal64(2 * room)},
		Protocol:     map[protocol.ID]rcmgr.ResourceLimits{ProtocolID: {Memory: rcmgr.LimitVal64(8 * room)}},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{ProtocolID: {Memory: rcmgr.LimitVal64(room)}},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(partial.Build(limits.AutoScale())))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return []libp2p.Option{libp2p.Muxer(yamux.ID, &t), libp2p.ResourceManager(rm),
		libp2p.Security(libp2ptls.ID, newBatchTLS), libp2p.Security(noise.ID, noise.New)}, nil
}
