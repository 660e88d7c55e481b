package assertions

import (
	"context"

	"github.com/perfrun/perfrun/scenario"
)

// KindK6Threshold is one of the k6 script's thresholds. It is not written
// in the scenario: the load reports it (package loadgen: k6's summary, or
// every generator judged at once from Prometheus).
const KindK6Threshold = "k6Threshold"

type k6ThresholdKind struct{}

func (k6ThresholdKind) Name() string                 { return KindK6Threshold }
func (k6ThresholdKind) Of(scenario.Assertion) bool   { return false }
func (k6ThresholdKind) Tolerance() (Tolerance, bool) { return Tolerance{}, false }
func (k6ThresholdKind) Evaluate(_ context.Context, _ *Env, a scenario.Assertion) Result {
	return Result{Name: a.Name, Kind: KindK6Threshold, Status: Error, Error: "k6 thresholds are judged by the load"}
}

// K6ThresholdCrossed is a threshold as k6 itself judged it (its summary):
// value 1 when crossed.
func K6ThresholdCrossed(metric, expr string, crossed bool) Result {
	v := 0.0
	if crossed {
		v = 1
	}
	return Check("k6:"+metric+":"+expr, KindK6Threshold, "k6 threshold "+expr+" on "+metric+" (value: 1 = crossed)", "==", v, 0)
}
