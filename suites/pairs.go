// Package suites holds perfrun's Ginkgo v2 suites (the _test.go files:
// go test ./suites, with -tags cluster for the specs that need a cluster)
// and the catalog they run: for each property, a scenario that must pass
// and a known-bad one that must fail, and the assertions that decide it.
// The scenarios live in suites/scenarios/.
package suites

import (
	"github.com/perfrun/perfrun/suites/accuracy"
)

// Labels of the specs (ginkgo --label-filter).
const (
	LabelSmoke        = "smoke"         // the smoke scenario: make test runs it
	LabelNightly      = "nightly"       // every good/bad pair: make nightly, make nightly-local
	LabelScale        = "scale"         // big loads for real clusters (kubeconfig)
	LabelNeedsCluster = "needs-cluster" // runs perfrun run against a cluster
	// LabelCI marks the one good/bad pair that make test runs beside smoke.
	LabelCI = "ci"
	// LabelTekton marks the pairs on the real Tekton Pipelines controller
	// (built from its pinned module; TaskRuns complete on kwok's nodes):
	// make test-tekton, which make test runs too.
	LabelTekton = "tekton"
)

// SmokeScenario is the smoke run (≤ 2 minutes on a 2-core machine).
const SmokeScenario = "suites/scenarios/smoke.yaml"

// Mode is one side of a pair: a scenario and the assertions that carry the
// property's verdict in it.
type Mode struct {
	Scenario   string
	Assertions []string
}

// Pair is a property's good and known-bad scenarios.
type Pair struct {
	Property string
	Good     Mode
	Bad      Mode
	// Why is what the known-bad mode gets wrong, for the spec's text.
	Why string
	// CI puts the pair in make test (LabelCI).
	CI bool
	// Labels are more spec labels: LabelTekton for a pair on the real
	// Tekton Pipelines controller.
	Labels []string
}

// Pairs are the properties the harness exists to verify, each proved in
// both directions.
var Pairs = []Pair{
	{
		Property: "throughput",
		Good:     Mode{"suites/scenarios/throughput.yaml", []string{"throughput"}},
		Bad:      Mode{"suites/scenarios/throughput-saturated.yaml", []string{"throughput"}},
		Why:      "a listener held to a CPU limit below what the load costs answers less than the floor",
	},
	{
		Property: "distribution",
		Good:     Mode{"suites/scenarios/controller-restart-statefulset.yaml", []string{"even-reconciles", "even-buckets"}},
		Bad:      Mode{"suites/scenarios/controller-leader-election.yaml", []string{"even-reconciles", "even-buckets"}},
		Why:      "leader election after a restart leaves every lease with the survivors",
	},
	{
		Property: "disruption",
		Good:     Mode{"suites/scenarios/controller-kill.yaml", []string{"disruption"}},
		Bad:      Mode{"suites/scenarios/controller-kill-two.yaml", []string{"disruption"}},
		Why:      "two of three controllers lost leave two thirds of the keys unserved",
	},
	{
		Property: "ownership",
		Good:     Mode{"suites/scenarios/controller-restart-statefulset.yaml", []string{"exclusive-ownership"}},
		Bad:      Mode{"suites/scenarios/controller-split-brain.yaml", []string{"exclusive-ownership"}},
		Why:      "a split brain: every replica also reconciles the next ordinal's bucket while its owner does, so keys have two reconcilers though every key is served and reconciles stay even",
	},
	{
		Property: "upgrade",
		Good:     Mode{"suites/scenarios/upgrade-v1-v2.yaml", []string{"no-loss"}},
		Bad:      Mode{"suites/scenarios/upgrade-v1-v2-no-migration.yaml", []string{"no-loss"}},
		Why:      "without the migration, jobs left in the v1 list are never applied",
	},
	{
		Property: "no-loss",
		Good:     Mode{"suites/scenarios/worker-kill-v2.yaml", []string{"no-loss"}},
		Bad:      Mode{"suites/scenarios/worker-kill-v1.yaml", []string{"no-loss"}},
		Why:      "a v1 job popped by a killed worker is lost (at-most-once)",
		CI:       true,
	},
	{
		Property: "core-utilization",
		Good:     Mode{"suites/scenarios/core-utilization.yaml", []string{"listener-cores", "worker-cores"}},
		Bad:      Mode{"suites/scenarios/core-utilization-sync.yaml", []string{"listener-cores", "worker-cores"}},
		Why:      "a synchronous listener, one request at a time, waits on its Redis round trips and cannot use its core",
	},
	// The same claims on the real Tekton Pipelines controller (v1.6.0),
	// decided by its own reconcile counts and by watching its TaskRuns.
	{
		Property: "tekton-distribution",
		Good:     Mode{"suites/scenarios/tekton-statefulset.yaml", []string{"even-reconciles"}},
		Bad:      Mode{"suites/scenarios/tekton-leader-election.yaml", []string{"even-reconciles"}},
		Why:      "with Lease election one replica wins every bucket and the other reconciles nothing, also after a restart",
		Labels:   []string{LabelTekton},
	},
	{
		Property: "tekton-disruption",
		Good:     Mode{"suites/scenarios/tekton-kill.yaml", []string{"disruption"}},
		Bad:      Mode{"suites/scenarios/tekton-kill-two.yaml", []string{"disruption"}},
		Why:      "two of three replicas down leave two thirds of the TaskRuns waiting",
		Labels:   []string{LabelTekton},
	},
}

// Want is the property verdict a mode must give.
func Want(mode string) string {
	if mode == accuracy.ModeBad {
		return accuracy.Fail
	}
	return accuracy.Pass
}
