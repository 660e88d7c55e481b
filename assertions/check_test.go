package assertions

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfrun/perfrun/scenario"
)

// Every query the example scenarios' assertions send parses.
func TestCheckQueriesExamples(t *testing.T) {
	files, _ := filepath.Glob("../suites/scenarios/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenarios")
	}
	for _, f := range files {
		s, err := scenario.LoadFile(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := CheckQueries(s); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// A field that is PromQL on its own can still make a query that is not,
// once perfrun writes its own PromQL around it: the error names the field.
func TestCheckQueriesBuilt(t *testing.T) {
	s := &scenario.Scenario{Spec: scenario.Spec{
		System:     scenario.System{Metrics: scenario.ReferenceMetrics()},
		Load:       scenario.Load{Duration: scenario.D(60e9)},
		Assertions: []scenario.Assertion{{Name: "ok", Query: "up", Op: ">", Bound: new(float64)}, {Name: "t", Throughput: &scenario.Throughput{Floor: 1, Selector: "rate(x[1m])"}}},
	}}
	err := CheckQueries(s)
	if err == nil || !strings.Contains(err.Error(), "spec.assertions[1].throughput: the query perfrun builds from it is not valid PromQL") {
		t.Errorf("err = %v", err)
	}
}

// A coreUtilization component must be a rendered workload.
func TestCheckWorkloads(t *testing.T) {
	s := &scenario.Scenario{Spec: scenario.Spec{Assertions: []scenario.Assertion{
		{Name: "t", Throughput: &scenario.Throughput{Floor: 1}},
		{Name: "cores", CoreUtilization: &scenario.CoreUtilization{Components: []string{"listener", "wrker"}, Min: 0.9}},
	}}}
	workloads := []string{"controller", "listener", "redis", "worker"}
	err := CheckWorkloads(s, workloads)
	if err == nil || err.Error() != `spec.assertions[1].coreUtilization.components[1]: no Deployment or StatefulSet "wrker" in the overlay (it has controller, listener, redis, worker)` {
		t.Errorf("err = %v", err)
	}
	s.Spec.Assertions[1].CoreUtilization.Components[1] = "worker"
	if err := CheckWorkloads(s, workloads); err != nil {
		t.Error(err)
	}
}
