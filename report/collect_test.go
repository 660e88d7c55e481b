package report

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// fakeQuerier answers every range query with one series holding a NaN, and
// fails the queue depth query.
type fakeQuerier struct{ queries []string }

func (f *fakeQuerier) Query(context.Context, string, time.Time, ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	return nil, nil, nil, errors.New("not used")
}

func (f *fakeQuerier) QueryRange(_ context.Context, q string, r v1.Range, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.queries = append(f.queries, q)
	if strings.Contains(q, "queue_depth") {
		return nil, nil, nil, errors.New("boom")
	}
	t := model.TimeFromUnixNano(r.Start.UnixNano())
	return model.Matrix{{Metric: model.Metric{"pod": "p-0"}, Values: []model.SamplePair{{Timestamp: t, Value: 1}, {Timestamp: t + 5000, Value: model.SampleValue(math.NaN())}}}}, nil, nil, nil
}

func TestCollect(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := synthetic(1)
	run.Timeseries = nil
	run.Scenario.Spec.Assertions = []scenario.Assertion{{Name: "d", Disruption: &scenario.Disruption{Chaos: "kill_one", Deadline: "4.096", Replicas: 3}}}
	q := &fakeQuerier{}
	Collect(context.Background(), q, run, scenario.Window{Start: start, End: start.Add(time.Minute), Namespace: "ns-1", TestID: "t-1"}, time.Second)
	if len(run.Timeseries) != len(Queries(scenario.ReferenceMetrics()))+1 {
		t.Fatalf("%d time series, want %d (the missed-deadline one too)", len(run.Timeseries), len(Queries(scenario.ReferenceMetrics()))+1)
	}
	for _, q := range q.queries {
		if !strings.Contains(q, `namespace="ns-1"`) && !strings.Contains(q, `testid="t-1"`) || strings.Contains(q, "{{") {
			t.Errorf("query not expanded: %s", q)
		}
	}
	for _, ts := range run.Timeseries {
		switch ts.Name {
		case SeriesQueueDepth:
			if !strings.Contains(ts.Error, "boom") {
				t.Errorf("queue depth error %q", ts.Error)
			}
		case SeriesMissed:
			if !strings.Contains(ts.Query, `le="4.096"`) {
				t.Errorf("missed deadline query %s", ts.Query)
			}
		default:
			if len(ts.Series) != 1 || len(ts.Series[0].Points) != 1 {
				t.Errorf("%s: %+v, want the NaN point dropped", ts.Name, ts.Series)
			}
		}
	}
	// And the result still encodes (NaN would not).
	if err := result.Write(t.TempDir(), run); err != nil {
		t.Fatal(err)
	}
	Collect(context.Background(), nil, run, scenario.Window{}, 0) // no Prometheus: no panic
}
