// Package promconf holds the scrape settings of the local cluster's
// Prometheus, written once: cluster/local writes them into the
// Prometheus it runs, and the dashboards' empty-panel check starts a
// Prometheus with the same ones, so that what the check finds stored is
// what a run's Prometheus stores (native histograms, no _bucket series).
package promconf

// Version is the Prometheus module version the local cluster builds
// (Prometheus 3.16.0), into $PERFRUN_CACHE/prometheus-VERSION/prometheus.
const Version = "v0.316.0"

// ScrapeInterval is how often the local cluster's Prometheus scrapes, in
// seconds: the report's rate windows and query step are sized on it.
const ScrapeInterval = 5

// Global is the global section of the local cluster's prometheus.yml.
const Global = `global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
  # The listener's and worker's latency histograms, and k6's trends, as
  # native histograms when the exporter offers them: Prometheus then keeps
  # no classic _bucket series for them, and every percentile query reads
  # the native series first (README: "Histograms: native first").
  scrape_native_histograms: true
`
