package scenario

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/perfrun/perfrun/objects"
)

// ObjectLatency: percentiles of the time from an object's creation to its
// first status or to a condition turning True, measured by watching the
// objects (as clusterloader2's PodStartupLatency does), each ≤ its bound.
// Objects created during the load count; those that never got there count
// as +Inf.
type ObjectLatency struct {
	// Resource is RESOURCE[.GROUP][/VERSION] (taskruns.tekton.dev/v1,
	// pods/v1; no version: the server's preferred), watched in the run's
	// namespace.
	Resource string `yaml:"resource" json:"resource"`
	// Selector is a label selector narrowing the objects (e.g. app=load).
	Selector string `yaml:"selector,omitempty" json:"selector,omitempty"`
	// Condition is the condition type (default Succeeded).
	Condition string `yaml:"condition,omitempty" json:"condition,omitempty"`
	// To is what is timed: condition (the condition True, default) or
	// status (the controller's first status.conditions).
	To string `yaml:"to,omitempty" json:"to,omitempty"`
	// Percentiles are the bounds by percentile: {p50: 10s, p99: 30s}.
	Percentiles map[string]Duration `yaml:"percentiles" json:"percentiles"`
}

// ObjectDisruption: the share of objects created from a chaos action's
// start to its end (an action that lasts: podFailure) or to the end of the
// load (a podKill) that took longer than Deadline to reach
// the condition (or never did) ≤ 1/replicas + tolerance.
type ObjectDisruption struct {
	Resource  string `yaml:"resource" json:"resource"`
	Selector  string `yaml:"selector,omitempty" json:"selector,omitempty"`
	Condition string `yaml:"condition,omitempty" json:"condition,omitempty"`
	To        string `yaml:"to,omitempty" json:"to,omitempty"`
	// Chaos names the action whose start opens the window; an action that
	// lasts (podFailure) closes it at its end, any other at the load's end.
	Chaos    string   `yaml:"chaos" json:"chaos"`
	Deadline Duration `yaml:"deadline" json:"deadline"`
	// Replicas of the killed component (default: spec.system.components'
	// replicas of the pod action's component, else the rendered overlay's).
	Replicas  int32   `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	Tolerance float64 `yaml:"tolerance,omitempty" json:"tolerance,omitempty"`
}

// ParsePercentile reads a percentile key (p50, p99.9) as 0 < p ≤ 100.
func ParsePercentile(key string) (float64, bool) {
	if !percentileKey.MatchString(key) {
		return 0, false
	}
	p, err := strconv.ParseFloat(key[1:], 64)
	return p, err == nil && p > 0 && p <= 100
}

var (
	percentileKey = regexp.MustCompile(`^p[0-9]{1,3}(\.[0-9]+)?$`)
	conditionType = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_./-]*$`)
)

func defaultObjectAssertion(s *Scenario, a *Assertion) {
	if o := a.ObjectLatency; o != nil {
		o.Condition = cmp.Or(o.Condition, objects.DefaultCondition)
		o.To = cmp.Or(o.To, objects.ToCondition)
	}
	if o := a.ObjectDisruption; o != nil {
		o.Condition = cmp.Or(o.Condition, objects.DefaultCondition)
		o.To = cmp.Or(o.To, objects.ToCondition)
		if o.Replicas == 0 {
			o.Replicas = s.killedReplicas(o.Chaos)
		}
	}
}

// objectTarget checks what an object assertion watches and times.
func (v *validator) objectTarget(p, resource, selector, cond, to string) {
	if resource == "" {
		v.add(p+".resource", "required: RESOURCE[.GROUP][/VERSION] such as taskruns.tekton.dev/v1")
	} else if _, _, _, err := objects.ParseResource(resource); err != nil {
		v.add(p+".resource", "%v", err)
	}
	if selector != "" {
		if _, err := labels.Parse(selector); err != nil {
			v.add(p+".selector", "not a label selector: %v", err)
		}
	}
	if !conditionType.MatchString(cond) {
		v.add(p+".condition", "must be a condition type such as Succeeded or Ready, got %q", cond)
	}
	if !slices.Contains([]string{objects.ToCondition, objects.ToStatus}, to) {
		v.add(p+".to", "must be %s (the condition True) or %s (the first status), got %q", objects.ToCondition, objects.ToStatus, to)
	}
}

func (v *validator) objectAssertion(p string, a *Assertion, actions map[string]*Action) {
	if o := a.ObjectLatency; o != nil {
		p := p + ".objectLatency"
		v.objectTarget(p, o.Resource, o.Selector, o.Condition, o.To)
		if len(o.Percentiles) == 0 {
			v.add(p+".percentiles", "at least one bound required, e.g. {p50: 10s, p99: 30s}")
		}
		for _, k := range sortedKeys(o.Percentiles) {
			if _, ok := ParsePercentile(k); !ok {
				v.add(p+".percentiles."+k, "not a percentile: want p50, p90, p99.9 (0 < p ≤ 100)")
			} else if o.Percentiles[k].Duration <= 0 {
				v.add(p+".percentiles."+k, "bound must be > 0, got %s", o.Percentiles[k])
			}
		}
	}
	if o := a.ObjectDisruption; o != nil {
		p := p + ".objectDisruption"
		v.objectTarget(p, o.Resource, o.Selector, o.Condition, o.To)
		switch {
		case o.Chaos == "":
			v.add(p+".chaos", "required: the chaos action whose start opens the window")
		case actions[o.Chaos] == nil:
			v.add(p+".chaos", "no chaos action named %q", o.Chaos)
		}
		if o.Deadline.Duration <= 0 {
			v.add(p+".deadline", "required and > 0: how long an object may take, e.g. 30s")
		}
		switch act := actions[o.Chaos]; {
		case o.Replicas < 0:
			v.add(p+".replicas", "must be ≥ 1, got %d", o.Replicas)
		case o.Replicas == 0 && act != nil && !isPodAction(act):
			// A pod action's component is in the overlay: preflight
			// reads its replicas there (FillReplicas).
			v.add(p+".replicas", "required when the action is not a pod action (%s has no component whose replicas could be read)", o.Chaos)
		}
		if o.Tolerance < 0 || o.Tolerance >= 1 {
			v.add(p+".tolerance", "must be in [0, 1), got %g", o.Tolerance)
		}
	}
}

func isPodAction(a *Action) bool {
	_, ok := a.Spec().(PodAction)
	return ok
}

// objectKinds are the object assertion keys set on a, for counting kinds.
func objectKinds(a *Assertion) []bool {
	return []bool{a.ObjectLatency != nil, a.ObjectDisruption != nil}
}

// objectKindKeys are the keys of the object assertions (error messages).
const objectKindKeys = "objectLatency, objectDisruption"
