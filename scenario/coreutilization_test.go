package scenario

import (
	"strings"
	"testing"
	"time"
)

// coreGood is good with a coreUtilization assertion added (index 5).
const coreGood = good + `    - name: cores
      coreUtilization: {components: [listener, worker], min: 0.9, skip: 15s}
`

func TestCoreUtilization(t *testing.T) {
	s, err := Parse([]byte(coreGood), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Spec.Assertions[5].CoreUtilization
	if c.Metric != DefaultCPUMetric || c.Min != 0.9 || c.Skip.Duration != 15*time.Second || len(c.Components) != 2 {
		t.Errorf("coreUtilization %+v", c)
	}
}

func TestCoreUtilizationErrors(t *testing.T) {
	const old = "coreUtilization: {components: [listener, worker], min: 0.9, skip: 15s}"
	cases := []struct {
		name, new string
		want      []string
	}{
		{"no components", "coreUtilization: {min: 0.9}", []string{"spec.assertions[5].coreUtilization.components: required"}},
		{"bad component", "coreUtilization: {components: [Listener], min: 0.9}", []string{`spec.assertions[5].coreUtilization.components[0]: must be a workload name (DNS label), got "Listener"`}},
		{"twice", "coreUtilization: {components: [worker, worker], min: 0.9}", []string{`spec.assertions[5].coreUtilization.components[1]: "worker" is listed twice`}},
		{"no min", "coreUtilization: {components: [worker]}", []string{"spec.assertions[5].coreUtilization.min: must be in (0, 1]"}},
		{"min above 1", "coreUtilization: {components: [worker], min: 1.5}", []string{"spec.assertions[5].coreUtilization.min: must be in (0, 1] (the share of its CPU limit, or of one core, each pod must use), got 1.5"}},
		{"min NaN", "coreUtilization: {components: [worker], min: .nan}", []string{"spec.assertions[5].coreUtilization.min (line 41): want a number"}},
		{"skip", "coreUtilization: {components: [worker], min: 0.9, skip: 60s}", []string{"spec.assertions[5].coreUtilization.skip: must be shorter than the load (1m0s), got 1m0s"}},
		{"negative skip", "coreUtilization: {components: [worker], min: 0.9, skip: -1s}", []string{"spec.assertions[5].coreUtilization.skip (line 41): duration must not be negative"}},
		{"metric", "coreUtilization: {components: [worker], min: 0.9, metric: 'rate(x[1m])'}", []string{`spec.assertions[5].coreUtilization.metric: must be a metric name`}},
		{"unknown field", "coreUtilization: {components: [worker], min: 0.9, limit: 1}", []string{"spec.assertions[5].coreUtilization.limit (line 41): unknown field (known: components, metric, min, skip)"}},
		{"op", "coreUtilization: {components: [worker], min: 0.9}\n      op: '>='", []string{"spec.assertions[5].op: only with query"}},
		{"two kinds", "coreUtilization: {components: [worker], min: 0.9}\n      throughput: {floor: 1}", []string{"spec.assertions[5]: exactly one of query, throughput, evenDistribution, disruption, noLoss, coreUtilization, exclusiveOwnership, objectLatency, objectDisruption must be set, got 2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(coreGood, old, tc.new, 1)
			_, err := Parse([]byte(src), nil)
			if err == nil {
				t.Fatal("Parse accepted a bad scenario")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}
