package assertions

import (
	"fmt"
	"slices"
	"strings"

	"github.com/perfrun/perfrun/scenario"
)

// queryChecker is a kind that is not one PromQL Spec but sends PromQL it
// builds at evaluation (from the pods it finds): queries are its templates
// with sample values where the run's would go.
type queryChecker interface {
	queries(a scenario.Assertion) []string
}

// CheckQueries expands and parses every PromQL query the scenario's
// assertions will send, as Evaluate builds them from the assertion and
// the scenario's metric contract, over a sample window of the scenario
// (scenario.Validate has checked each field alone; this checks what
// perfrun writes around them). The first query that does not parse is an
// error naming the assertion's field.
func CheckQueries(s *scenario.Scenario) error {
	w := scenario.SampleWindow(s)
	m := s.Spec.System.Metrics
	for i, a := range s.Spec.Assertions {
		k := KindOf(a)
		if k == nil {
			continue
		}
		field := fmt.Sprintf("spec.assertions[%d].%s", i, k.Name())
		var templates []string
		if pq, ok := k.(promQL); ok {
			sp := pq.spec(a, m)
			if sp.Counter != "" {
				sel, err := scenario.Expand(sp.Counter, w)
				if err != nil {
					return fmt.Errorf("%s: %w", field, err)
				}
				q, _ := counterQuery(sel, w)
				if err := scenario.CheckPromQL(q); err != nil {
					return fmt.Errorf("%s: the query perfrun builds from it is %w (query %s)", field, err, q)
				}
			} else {
				templates = append(templates, sp.Query)
			}
		}
		if qc, ok := k.(queryChecker); ok {
			templates = append(templates, qc.queries(a)...)
		}
		if p, ok := k.(Plotter); ok {
			_, _, q := p.Plot(a, m)
			templates = append(templates, q)
		}
		for _, t := range templates {
			q, err := scenario.Expand(t, w)
			if err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
			if err := scenario.CheckPromQL(q); err != nil {
				return fmt.Errorf("%s: the query perfrun builds from it is %w (query %s)", field, err, q)
			}
		}
	}
	return nil
}

// CheckWorkloads says whether every workload an assertion names (a
// coreUtilization's components) is among the rendered Deployments and
// StatefulSets; the error names the field and what the overlay has.
func CheckWorkloads(s *scenario.Scenario, workloads []string) error {
	for i, a := range s.Spec.Assertions {
		c := a.CoreUtilization
		if c == nil {
			continue
		}
		for j, name := range c.Components {
			if !slices.Contains(workloads, name) {
				return fmt.Errorf("spec.assertions[%d].coreUtilization.components[%d]: no Deployment or StatefulSet %q in the overlay (it has %s)",
					i, j, name, strings.Join(workloads, ", "))
			}
		}
	}
	return nil
}
