package worker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the worker's Prometheus series. The first two carry the names
// and labels of Apisonator's own worker metrics, so that dashboards and
// queries written for a real 3scale backend work here.
type metrics struct {
	jobs       *prometheus.CounterVec
	runtime    *prometheus.HistogramVec
	failed     *prometheus.CounterVec
	depth      *prometheus.GaugeVec
	claimed    prometheus.Counter
	duplicates prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apisonator_worker_job_count",
			Help: "Total number of jobs processed",
		}, []string{"type"}),
		runtime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apisonator_worker_job_runtime_seconds",
			Help: "How long jobs take to run",
			// 0.5ms (a bare apply) to ~8s (a recipe's slow job).
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}, []string{"type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apisonator_worker_job_failures_total",
			Help: "Jobs that could not be decoded or applied",
		}, []string{"type"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apisonator_worker_queue_depth",
			Help: "Report jobs in Redis per queue format: v1 waiting, v2 waiting or in hand and not yet acknowledged",
		}, []string{"format"}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apisonator_worker_jobs_claimed_total",
			Help: "V2 jobs taken over from consumers that left them pending longer than the claim idle time",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apisonator_worker_duplicate_jobs_total",
			Help: "V2 jobs delivered again after they had been applied, and skipped",
		}),
	}
	for _, c := range []prometheus.Collector{m.jobs, m.runtime, m.failed, m.depth, m.claimed, m.duplicates} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering worker metrics: %w", err)
		}
	}
	return m, nil
}
