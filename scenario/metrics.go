package scenario

import (
	"reflect"
	"strings"
)

// Metrics is a system's metric contract: which series count its work, its
// errors and its latency, per pod. The ready-made assertions, the report's
// plots and the live progress line read it and nothing else, so a system
// that is not ours plugs its own in with spec.system.metrics, field by
// field over Reference. Selectors are templates over the run (Window):
// {{.namespace}} is the run's namespace. Series carry the namespace and pod
// labels that Prometheus's kubernetes_sd relabelling gives them.
type Metrics struct {
	// Answers selects the counter of every answer the system gave, with
	// the label AnswerCode carrying the status class.
	Answers string `yaml:"answers,omitempty" json:"answers,omitempty"`
	// Served selects the successful answers that throughput counts.
	Served string `yaml:"served,omitempty" json:"served,omitempty"`
	// Failed selects the answers that are not successes; ServerErrors those
	// that are the system's fault (5xx).
	Failed       string `yaml:"failed,omitempty" json:"failed,omitempty"`
	ServerErrors string `yaml:"serverErrors,omitempty" json:"serverErrors,omitempty"`
	// AnswerLabels are the labels the report splits answers by.
	AnswerLabels string `yaml:"answerLabels,omitempty" json:"answerLabels,omitempty"`
	// Latency is the answers' latency histogram (name without _bucket).
	Latency string `yaml:"latency,omitempty" json:"latency,omitempty"`
	// Work is a per-pod counter of work done (reconciles): even
	// distribution's default.
	Work string `yaml:"work,omitempty" json:"work,omitempty"`
	// Owned is a per-pod gauge of the shards (buckets, leases) a pod holds.
	Owned string `yaml:"owned,omitempty" json:"owned,omitempty"`
	// SharedItems selects a gauge of the keys reconciled by more than one
	// replica over the run, where that breaks ownership (the reference
	// controller's in statefulset mode): exclusive ownership's value.
	SharedItems string `yaml:"sharedItems,omitempty" json:"sharedItems,omitempty"`
	// Pending is a gauge of work waiting.
	Pending string `yaml:"pending,omitempty" json:"pending,omitempty"`
	// WorkLatency is the histogram of key created → reconciled (name
	// without _bucket): disruption's default.
	WorkLatency string `yaml:"workLatency,omitempty" json:"workLatency,omitempty"`
	// QueueDepth is a gauge of queued jobs, by Format.
	QueueDepth string `yaml:"queueDepth,omitempty" json:"queueDepth,omitempty"`
	// Jobs is a per-pod counter of jobs applied.
	Jobs string `yaml:"jobs,omitempty" json:"jobs,omitempty"`
}

// nsSel is the run's namespace as a label matcher.
const nsSel = `namespace="{{.namespace}}"`

// ReferenceMetrics is the contract of the system perfrun ships (system/):
// the listener's Apisonator metrics, the worker's and the controller's.
func ReferenceMetrics() Metrics {
	return Metrics{
		Answers:      `apisonator_listener_response_codes{` + nsSel + `}`,
		Served:       `apisonator_listener_response_codes{` + nsSel + `,request_type=~"authrep|authorize",resp_code="2xx"}`,
		Failed:       `apisonator_listener_response_codes{` + nsSel + `,resp_code!="2xx"}`,
		ServerErrors: `apisonator_listener_response_codes{` + nsSel + `,resp_code="5xx"}`,
		AnswerLabels: "request_type, resp_code",
		Latency:      "apisonator_listener_response_times_seconds",
		Work:         "perfrun_controller_reconciles_total",
		Owned:        "perfrun_controller_buckets_held",
		Pending:      "perfrun_controller_items_pending",
		SharedItems:  `perfrun_controller_items_shared{` + nsSel + `,mode="statefulset"}`,
		WorkLatency:  "perfrun_controller_reconcile_latency_seconds",
		QueueDepth:   "apisonator_worker_queue_depth",
		Jobs:         "apisonator_worker_job_count",
	}
}

// WithDefaults is m with every field it leaves empty taken from def.
func (m Metrics) WithDefaults(def Metrics) Metrics {
	v, d := reflect.ValueOf(&m).Elem(), reflect.ValueOf(def)
	for i := range v.NumField() {
		if v.Field(i).String() == "" {
			v.Field(i).SetString(d.Field(i).String())
		}
	}
	return m
}

// fields are the contract's fields by their YAML names, for validation.
func (m Metrics) fields() map[string]string {
	out := map[string]string{}
	v, t := reflect.ValueOf(m), reflect.TypeFor[Metrics]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		out[name] = v.Field(i).String()
	}
	return out
}
