//go:build cluster

package check

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/dashboards"
	"github.com/perfrun/perfrun/report"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// TestRunPanelsHaveData is TestPanelsHaveData after a real run on the
// local cluster: every dashboard panel's query (its variables filled with
// the run's namespace and testid) and every report series of the run, from
// the Prometheus the run used, has data, or is not applicable to the run's
// scenario. It only reads: the result folder and Prometheus's HTTP API.
//
//	perfrun run suites/scenarios/smoke.yaml       # prints results/smoke-…
//	PERFRUN_RESULT=$PWD/results/smoke-… go test -tags cluster -count=1 -v -run TestRunPanelsHaveData ./dashboards/check
//
// PERFRUN_PROMETHEUS is the Prometheus (default the local cluster's,
// cluster/local.PrometheusURL).
func TestRunPanelsHaveData(t *testing.T) {
	dir := os.Getenv("PERFRUN_RESULT")
	if dir == "" {
		t.Skip("PERFRUN_RESULT (a run's result folder) not set")
	}
	prom := cmp.Or(os.Getenv("PERFRUN_PROMETHEUS"), "http://198.18.255.1:9090")
	run, err := result.Read(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Scenario == nil || run.LoadStart.IsZero() {
		t.Fatalf("%s: no scenario or no load in the result", dir)
	}
	w := scenario.Window{Start: run.LoadStart, End: run.LoadEnd, Drained: run.Drained, Namespace: run.Namespace, TestID: run.TestID,
		Chaos: map[string]scenario.ActionWindow{}}
	for _, e := range run.Chaos {
		w.Chaos[e.Name] = scenario.ActionWindow{Start: e.Start, End: e.End}
	}
	leftOut := report.LeftOut(run)
	exercised := map[string]bool{
		dashboards.PartController: leftOut[report.SeriesReconciles] == "",
		dashboards.PartWorkers:    leftOut[report.SeriesWorkerJobs] == "",
		dashboards.PartRestarts:   len(run.Restarts) > 0,
	}
	// What k6 measured says which of its parts the script exercised.
	if s, err := collectors.ReadK6Summary(filepath.Join(dir, "k6-summary.json")); err == nil {
		for name := range s.Metrics {
			base, _, _ := strings.Cut(name, "{")
			switch {
			case base == "http_reqs":
				exercised[dashboards.PartHTTP] = true
			case base == "backend_results":
				exercised[dashboards.PartCalls] = true
			case strings.HasPrefix(base, "backend_item"):
				exercised[dashboards.PartItems] = true
			case base == "checks":
				exercised[dashboards.PartChecks] = true
			}
		}
	} else {
		t.Logf("no k6 summary (%v): every k6 panel must have data", err)
		for _, p := range []string{dashboards.PartHTTP, dashboards.PartCalls, dashboards.PartItems, dashboards.PartChecks} {
			exercised[p] = true
		}
	}
	var parts []string
	for p, ok := range exercised {
		if ok {
			parts = append(parts, p)
		}
	}
	slices.Sort(parts)
	t.Logf("run %s (%s): exercised %v", run.RunID, run.Scenario.Metadata.Name, parts)
	checkPanels(t, prom, w, run.Scenario, exercised, leftOut)
}
