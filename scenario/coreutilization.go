package scenario

import (
	"fmt"
	"slices"
)

// CoreUtilization: at saturation, every pod of the named components uses
// at least Min of the CPU it was given: the rate of its process's CPU
// seconds over the load after Skip, divided by its container's CPU limit
// (one core when it has none). The claim it decides is the 3scale
// backend's "one process per pod uses its whole core": an async process
// keeps its core busy while it waits on Redis; a synchronous one (one
// request at a time, each waiting on its round trips) cannot.
type CoreUtilization struct {
	// Components are workload names (Deployments or StatefulSets) whose
	// pods are judged, e.g. [listener, worker].
	Components []string `yaml:"components" json:"components"`
	// Min is the lowest share of its allocation a pod may use, in (0, 1].
	Min float64 `yaml:"min" json:"min"`
	// Skip leaves the ramp out of the window (the load's first seconds,
	// before the pods are saturated).
	Skip Duration `yaml:"skip,omitempty" json:"skip,omitempty"`
	// Metric is a per-process CPU seconds counter with a pod label
	// (default process_cpu_seconds_total, which client_golang's process
	// collector exports and the reference programs serve).
	Metric string `yaml:"metric,omitempty" json:"metric,omitempty"`
}

// DefaultCPUMetric is CoreUtilization.Metric when the file leaves it out.
const DefaultCPUMetric = "process_cpu_seconds_total"

func defaultCoreUtilization(a *Assertion) {
	if c := a.CoreUtilization; c != nil && c.Metric == "" {
		c.Metric = DefaultCPUMetric
	}
}

func (v *validator) coreUtilization(p string, s *Scenario, c *CoreUtilization) {
	p += ".coreUtilization"
	if len(c.Components) == 0 {
		v.add(p+".components", "required: the workloads whose pods are judged, e.g. [listener, worker]")
	}
	for i, name := range c.Components {
		switch {
		case !dnsLabel.MatchString(name):
			v.add(fmt.Sprintf("%s.components[%d]", p, i), "must be a workload name (DNS label), got %q", name)
		case slices.Index(c.Components, name) < i:
			v.add(fmt.Sprintf("%s.components[%d]", p, i), "%q is listed twice", name)
		}
	}
	// NaN fails both comparisons: it is refused too.
	if !(c.Min > 0 && c.Min <= 1) {
		v.add(p+".min", "must be in (0, 1] (the share of its CPU limit, or of one core, each pod must use), got %g", c.Min)
	}
	if c.Skip.Duration < 0 {
		v.add(p+".skip", "must not be negative, got %s", c.Skip)
	} else if l := s.Spec.Load.Duration.Duration; l > 0 && c.Skip.Duration >= l {
		v.add(p+".skip", "must be shorter than the load (%s), got %s", s.Spec.Load.Duration, c.Skip)
	}
	if err := checkMetricName(c.Metric); err != nil {
		v.add(p+".metric", "%v (a counter of CPU seconds per process, e.g. %s)", err, DefaultCPUMetric)
	}
}
