//go:build cluster

package check

import (
	"cmp"
	"os"
	"testing"
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
	checkResult(t, prom, dir)
}
