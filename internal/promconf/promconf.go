// Package promconf holds the scrape settings of the local cluster's
// Prometheus, written once: cluster/local writes them into the
// Prometheus it runs, and the dashboards' empty-panel check starts a
// Prometheus with the same ones, so that what the check finds stored is
// what a run's Prometheus stores (native histograms, no _bucket series).
package promconf

import "fmt"

// Version is the Prometheus module version the local cluster builds
// (Prometheus 3.16.0), into $PERFRUN_CACHE/prometheus-VERSION/prometheus.
const Version = "v0.316.0"

// ScrapeInterval is how often the local cluster's Prometheus scrapes, in
// seconds: the report's rate windows and query step are sized on it.
const ScrapeInterval = 5

// RunScrapeInterval is how often it scrapes the pods of a run's namespace
// (labelled perfrun.dev/run), in seconds: the deploy's wait for two scrapes
// and the drain's wait for the last one are bounded by it, and a run's
// pods are few. Every other pod keeps ScrapeInterval.
const RunScrapeInterval = 1

// RunRelabel is the kubernetes-pods job's relabelling that gives a run's
// pods RunScrapeInterval (and as long a timeout: Prometheus refuses a
// timeout above the interval). It needs the job's pods discovered with
// their namespace's metadata (attach_metadata: {namespace: true}).
var RunRelabel = fmt.Sprintf(`  - source_labels: [__meta_kubernetes_namespace_labelpresent_perfrun_dev_run]
    regex: "true"
    target_label: __scrape_interval__
    replacement: %[1]ds
  - source_labels: [__meta_kubernetes_namespace_labelpresent_perfrun_dev_run]
    regex: "true"
    target_label: __scrape_timeout__
    replacement: %[1]ds
`, RunScrapeInterval)

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
