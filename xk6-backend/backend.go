// Package backend is the k6 extension k6/x/backend: a lean client for the
// 3scale Apisonator API (authrep, authorize, report), provisioning for
// setup(), seeded key choosers, work items for the controller, and
// Kubernetes objects created at an arrival rate (kube.go), each call
// measured with custom metrics.
package backend

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/sobek"
	"go.k6.io/k6/js/common"
	"go.k6.io/k6/js/modules"
	"go.k6.io/k6/metrics"
)

// ImportPath is the name scripts import.
const ImportPath = "k6/x/backend"

func init() {
	modules.Register(ImportPath, New())
}

// Metric names. The Prometheus remote-write output prefixes them with k6_
// and adds a suffix per type (see README.md).
const (
	MetricCallDuration      = "backend_call_duration"
	MetricResults           = "backend_results"
	MetricHitsAccepted      = "backend_hits_accepted"
	MetricItemLatency       = "backend_item_reconcile_latency"
	MetricItemDeadlineMiss  = "backend_item_deadline_missed"
	MetricItemsUnreconciled = "backend_items_unreconciled"
	MetricKubeCreated       = "backend_kube_objects_created"
	MetricKubeRejected      = "backend_kube_objects_rejected"
	MetricKubeFailed        = "backend_kube_objects_failed"
	MetricKubeDuration      = "backend_kube_create_duration"
)

// RootModule is created once per k6 process; it holds what the VUs share:
// the connection pools per target, the Kubernetes clients and the Zipf
// tables.
type RootModule struct {
	mu      sync.Mutex
	targets map[string]*target
	kubes   map[string]*kubeShared // per kubeconfig and context
	zipfs   sync.Map               // zipfKey -> []float64
	rr      atomic.Uint32
}

// New returns the root module.
func New() *RootModule {
	return &RootModule{targets: map[string]*target{}}
}

var (
	_ modules.Module   = &RootModule{}
	_ modules.Instance = &ModuleInstance{}
)

// sharedTarget returns the pool for a base URL, made once per process so that
// all VUs reuse each other's idle connections.
func (r *RootModule) sharedTarget(raw string) (*target, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.targets[raw]; ok {
		return t, nil
	}
	t, err := parseTarget(raw, 1<<14)
	if err != nil {
		return nil, err
	}
	r.targets[raw] = t
	return t, nil
}

// extMetrics are the custom metrics, registered in the init context.
type extMetrics struct {
	callDuration      *metrics.Metric
	results           *metrics.Metric
	hitsAccepted      *metrics.Metric
	itemLatency       *metrics.Metric
	itemDeadlineMiss  *metrics.Metric
	itemsUnreconciled *metrics.Metric
	kubeCreated       *metrics.Metric
	kubeRejected      *metrics.Metric
	kubeFailed        *metrics.Metric
	kubeDuration      *metrics.Metric
}

func registerMetrics(reg *metrics.Registry) (*extMetrics, error) {
	var m extMetrics
	var errs []error
	add := func(dst **metrics.Metric, name string, typ metrics.MetricType, vt ...metrics.ValueType) {
		var err error
		*dst, err = reg.NewMetric(name, typ, vt...)
		errs = append(errs, err)
	}
	add(&m.callDuration, MetricCallDuration, metrics.Trend, metrics.Time)
	add(&m.results, MetricResults, metrics.Counter)
	add(&m.hitsAccepted, MetricHitsAccepted, metrics.Counter)
	add(&m.itemLatency, MetricItemLatency, metrics.Trend, metrics.Time)
	add(&m.itemDeadlineMiss, MetricItemDeadlineMiss, metrics.Rate)
	add(&m.itemsUnreconciled, MetricItemsUnreconciled, metrics.Counter)
	add(&m.kubeCreated, MetricKubeCreated, metrics.Counter)
	add(&m.kubeRejected, MetricKubeRejected, metrics.Counter)
	add(&m.kubeFailed, MetricKubeFailed, metrics.Counter)
	add(&m.kubeDuration, MetricKubeDuration, metrics.Trend, metrics.Time)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("registering backend metrics: %w", err)
	}
	return &m, nil
}

// ModuleInstance is the module as one VU sees it.
type ModuleInstance struct {
	root    *RootModule
	vu      modules.VU
	metrics *extMetrics
	initErr error
}

// NewModuleInstance is called once per VU, in its init context, where the
// metrics registry is reachable.
func (r *RootModule) NewModuleInstance(vu modules.VU) modules.Instance {
	mi := &ModuleInstance{root: r, vu: vu}
	if env := vu.InitEnv(); env != nil {
		mi.metrics, mi.initErr = registerMetrics(env.Registry)
	} else {
		mi.initErr = errors.New("k6/x/backend must be imported in the init context")
	}
	return mi
}

// Exports lists what scripts can import.
func (mi *ModuleInstance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{
		"Client":   mi.newClient,
		"uniform":  mi.uniform,
		"zipf":     mi.zipf,
		"kube":     mi.kube,
		"outcomes": []string{OutcomeAuthorized, OutcomeLimited, OutcomeRejected, OutcomeError},
	}}
}

func (mi *ModuleInstance) throw(err error) {
	common.Throw(mi.vu.Runtime(), err)
}

// durationOf reads a JS duration: a number of milliseconds or a Go duration
// string such as "1.5s". field names the option for the error.
func durationOf(v sobek.Value, field string, def time.Duration) (time.Duration, error) {
	if v == nil || sobek.IsUndefined(v) || sobek.IsNull(v) {
		return def, nil
	}
	switch x := v.Export().(type) {
	case int64:
		return time.Duration(x) * time.Millisecond, checkPositive(field, time.Duration(x))
	case float64:
		return time.Duration(x * float64(time.Millisecond)), checkPositive(field, time.Duration(x*1000))
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a duration (e.g. \"2s\", or a number of milliseconds)", field, x)
		}
		return d, checkPositive(field, d)
	default:
		return 0, fmt.Errorf("%s: want a duration string or a number of milliseconds, got %s", field, v.String())
	}
}

func checkPositive(field string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: must be positive", field)
	}
	return nil
}
