package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnhub/cairn/p2p/fetch"
)

var (
	servedDesc = prometheus.NewDesc("cairn_served_bytes_total", "Block bytes served to each peer over the fetch protocol.", []string{"peer"}, nil)
	upDesc     = prometheus.NewDesc("cairn_max_upload_rate_bytes", "Upload limit in bytes per second (0: unlimited).", nil, nil)
	downDesc   = prometheus.NewDesc("cairn_max_download_rate_bytes", "Download limit in bytes per second (0: unlimited).", nil, nil)
)

// swarmCollector exports the bytes served to each peer and the limits.
type swarmCollector struct {
	s *fetch.Server
	c *fetch.Client
}

// RegisterSwarm adds the fetch server's bytes served to each peer and
// the upload and download limits; nil server and client (peer-to-peer
// off) give zero limits and no peers.
func (m *Metrics) RegisterSwarm(s *fetch.Server, c *fetch.Client) error {
	return m.Registry.Register(swarmCollector{s: s, c: c})
}

func (sc swarmCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- servedDesc
	ch <- upDesc
	ch <- downDesc
}

func (sc swarmCollector) Collect(ch chan<- prometheus.Metric) {
	var up, down int64
	if sc.s != nil && sc.c != nil {
		up, down = sc.s.UploadRate(), sc.c.DownloadRate()
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, float64(up))
	ch <- prometheus.MustNewConstMetric(downDesc, prometheus.GaugeValue, float64(down))
	if sc.s == nil {
		return
	}
	for p, n := range sc.s.Served() {
		ch <- prometheus.MustNewConstMetric(servedDesc, prometheus.CounterValue, float64(n), p.String())
	}
}
