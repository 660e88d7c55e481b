// Package objects is what perfrun records about the Kubernetes objects a
// system works on, in the manner of clusterloader2's PodStartupLatency and
// kube-burner's podLatency: per object, when it appeared, when its
// controller first wrote its status and when a condition (Succeeded,
// Ready) turned True or False; and per Lease, who held it over the run.
// This package is the records and what is computed from them (latencies,
// holder summaries) and has no Kubernetes client, so that result and
// assertions can read them; package objects/watcher fills them from the
// API server.
package objects

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// DefaultCondition is the condition a latency is measured to when none is
// named: Tekton's (and Knative's) terminal condition.
const DefaultCondition = "Succeeded"

// What a latency is measured to.
const (
	// ToStatus is the first status the controller wrote: status.conditions
	// became non-empty.
	ToStatus = "status"
	// ToCondition is the condition turning True.
	ToCondition = "condition"
)

// Record is one object as a watcher saw it. Times come in pairs: the
// watcher's own clock when it saw a change (sub-second, what latencies are
// measured on) and the API server's timestamp for it (whole seconds in
// metadata.creationTimestamp and most controllers' lastTransitionTime).
type Record struct {
	Name string `json:"name"`
	UID  string `json:"uid,omitempty"`
	// Seen is when the watcher first saw the object.
	Seen time.Time `json:"seen"`
	// Created is metadata.creationTimestamp.
	Created time.Time `json:"created"`
	// Listed says the object was first seen in a list (when the watch
	// started, or relisted after it expired), not in a watch event: Seen is
	// not when it was created, and its latencies are taken from the API
	// server's timestamps instead.
	Listed bool `json:"listed,omitempty"`
	// FirstStatus is when status.conditions was first seen non-empty, and
	// FirstStatusTransition the earliest lastTransitionTime among them then.
	FirstStatus           time.Time `json:"firstStatus,omitzero"`
	FirstStatusTransition time.Time `json:"firstStatusTransition,omitzero"`
	// Conditions are the first True and first False of each condition type
	// the object had (at most MaxConditions types).
	Conditions []Condition `json:"conditions,omitempty"`
	// Deleted is when the watcher saw the object deleted.
	Deleted time.Time `json:"deleted,omitzero"`
}

// MaxConditions bounds the condition types kept per object.
const MaxConditions = 8

// Condition is when one condition type of an object first turned True
// (Done) and first turned False (Failed), each on the watcher's clock and
// with the condition's lastTransitionTime.
type Condition struct {
	Type             string    `json:"type"`
	Done             time.Time `json:"done,omitzero"`
	DoneTransition   time.Time `json:"doneTransition,omitzero"`
	Failed           time.Time `json:"failed,omitzero"`
	FailedTransition time.Time `json:"failedTransition,omitzero"`
	// Reason is the condition's reason when it turned False.
	Reason string `json:"reason,omitempty"`
}

// Condition is the record's condition of type t (nil when it never had it).
func (r *Record) Condition(t string) *Condition {
	for i := range r.Conditions {
		if r.Conditions[i].Type == t {
			return &r.Conditions[i]
		}
	}
	return nil
}

// Start is when the object came to be, on the clock its latencies use:
// Seen, or Created for a listed object.
func (r *Record) Start() time.Time {
	if r.Listed {
		return r.Created
	}
	return r.Seen
}

// Latency is the time from the object's creation to what `to` names
// (ToStatus, or ToCondition: condition cond True). ok is false when it
// never got there. An object the watcher saw being created is measured on
// the watcher's clock; a listed one on the API server's timestamps.
func (r *Record) Latency(to, cond string) (d time.Duration, ok bool) {
	var end time.Time
	switch to {
	case ToStatus:
		end = r.FirstStatus
		if r.Listed {
			end = r.FirstStatusTransition
		}
	default:
		c := r.Condition(cond)
		if c == nil {
			return 0, false
		}
		end = c.Done
		if r.Listed {
			end = c.DoneTransition
		}
	}
	if end.IsZero() {
		return 0, false
	}
	return max(end.Sub(r.Start()), 0), true
}

// Failed says the object's condition cond turned False.
func (r *Record) Failed(cond string) bool {
	c := r.Condition(cond)
	return c != nil && !c.Failed.IsZero()
}

// Set is one watcher's records: objects.json holds one per watched resource.
type Set struct {
	// Resource is as the scenario wrote it; GVR is what it resolved to.
	Resource  string `json:"resource"`
	GVR       string `json:"gvr,omitempty"`
	Namespace string `json:"namespace"`
	Selector  string `json:"selector,omitempty"`
	// Dropped counts the objects past the watcher's cap, not recorded.
	Dropped int `json:"dropped,omitempty"`
	// Relists counts the lists after the first (watches that expired).
	Relists int `json:"relists,omitempty"`
	// Errors counts failed lists and watches (each retried).
	Errors  int      `json:"errors,omitempty"`
	Records []Record `json:"records"`
}

// Latencies are the seconds to `to` of each record, +Inf for those that
// never got there, and how many of those failed (condition False).
func Latencies(recs []Record, to, cond string) (secs []float64, never, failed int) {
	secs = make([]float64, 0, len(recs))
	for i := range recs {
		d, ok := recs[i].Latency(to, cond)
		if !ok {
			secs = append(secs, math.Inf(1))
			never++
			if recs[i].Failed(cond) {
				failed++
			}
			continue
		}
		secs = append(secs, d.Seconds())
	}
	return secs, never, failed
}

// Percentile is the nearest-rank percentile p (0 < p ≤ 100) of sorted
// values, as clusterloader2 computes its latency percentiles; NaN for none.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// resourceRE is RESOURCE[.GROUP][/VERSION]: taskruns.tekton.dev/v1,
// taskruns.tekton.dev, pods/v1, leases.coordination.k8s.io.
var resourceRE = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)((\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)(/(v[0-9]+((alpha|beta)[0-9]+)?))?$`)

// ParseResource reads RESOURCE[.GROUP][/VERSION] (the plural resource,
// then its API group, as kubectl writes taskruns.tekton.dev; a core
// resource has no group). An empty version is the server's preferred one.
func ParseResource(s string) (resource, group, version string, err error) {
	m := resourceRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", "", fmt.Errorf("want RESOURCE[.GROUP][/VERSION] such as taskruns.tekton.dev/v1 or pods/v1, got %q", s)
	}
	return m[1], strings.TrimPrefix(m[3], "."), m[7], nil
}
