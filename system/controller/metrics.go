package controller

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the controller's Prometheus metrics. The pod label is this
// replica's identity, so that reconciles per pod can be compared across
// replicas even when scraped through one endpoint.
type metrics struct {
	reconciles  prometheus.Counter
	bucketsHeld prometheus.Gauge
	latency     prometheus.Histogram
	pending     prometheus.Gauge
	shared      prometheus.Gauge
	foreign     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, pod string, mode Mode) (*metrics, error) {
	reconciles := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "perfrun_controller_reconciles_total",
		Help: "Reconciles done by this replica (items marked reconciled).",
	}, []string{"pod"})
	held := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "perfrun_controller_buckets_held",
		Help: "Buckets this replica owns now (leases held, or its ordinal's bucket).",
	}, []string{"pod"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "perfrun_controller_reconcile_latency_seconds",
		Help: "Time from an item's creation to its reconcile by this replica.",
		// 1ms to about 9 minutes: a key whose owner is down waits until the
		// owner comes back, and that wait is the point of the measure.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 20),
	})
	pending := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "perfrun_controller_items_pending",
		Help: "Items never reconciled, over all buckets (the same value on every replica).",
	})
	// The mode label says whether a second reconciler is a failure: in
	// statefulset mode a key's owner never changes (a restarted pod keeps
	// its name), in leader-election mode a lease that moves hands its keys
	// to a new owner.
	shared := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "perfrun_controller_items_shared",
		Help: "Items reconciled by more than one pod, over all buckets (the same value on every replica; in statefulset mode each is a split brain).",
	}, []string{"mode"})
	foreign := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "perfrun_controller_foreign_reconciles_total",
		Help: "Items this replica reconciled (did the work, or found it done) after another pod had: once per item.",
	}, []string{"pod"})
	for _, c := range []prometheus.Collector{reconciles, held, latency, pending, shared, foreign} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering controller metrics: %w", err)
		}
	}
	return &metrics{
		reconciles:  reconciles.WithLabelValues(pod),
		bucketsHeld: held.WithLabelValues(pod),
		latency:     latency,
		pending:     pending,
		shared:      shared.WithLabelValues(string(mode)),
		foreign:     foreign.WithLabelValues(pod),
	}, nil
}
