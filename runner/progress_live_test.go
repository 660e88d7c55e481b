package runner

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/scenario"
)

// queries answers an instant query by the metric name it mentions; a name
// it does not hold answers an empty vector, as Prometheus does.
type queries map[string]float64

func (q queries) Query(_ context.Context, query string, _ time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	for name, v := range q {
		if strings.Contains(query, name) {
			return model.Vector{{Value: model.SampleValue(v)}}, nil, nil, nil
		}
	}
	return model.Vector{}, nil, nil, nil
}

func TestLoadLineShowsBothSides(t *testing.T) {
	ctx := context.Background()
	el, rem := 20*time.Second, 20*time.Second
	for _, tc := range []struct {
		name string
		q    queries
		want string
		not  string
	}{
		{
			// The listener restarted: it answers nothing and counts no 5xx,
			// k6 counts the failed calls.
			name: "listener down under load",
			q:    queries{"k6_iterations_total": 300, `k6_backend_results_total{testid="abcd",outcome="error"}`: 180, "k6_dropped_iterations_total": 40, `apisonator_listener_response_codes{namespace="ns"}[`: 0, `resp_code="5xx"`: 0},
			want: "k6 300 it/s, 180 errors, 40 dropped · listener 0 answers/s, 0 5xx",
		},
		{
			name: "a controller scenario has no listener",
			q:    queries{"k6_iterations_total": 50},
			want: "k6 50 it/s, 0 errors",
			not:  "listener",
		},
		{
			name: "nothing scraped yet",
			q:    queries{},
			want: "no samples yet",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sampleLoad(ctx, tc.q, scenario.ReferenceMetrics(), "ns", "abcd", 40*time.Second, time.Now())
			line := s.line(el, rem)
			if !strings.HasSuffix(line, tc.want) {
				t.Errorf("line = %q, want it to end %q", line, tc.want)
			}
			if tc.not != "" && strings.Contains(line, tc.not) {
				t.Errorf("line = %q, has %q", line, tc.not)
			}
			ev := s.event(el, rem)
			if _, ok := ev["rps"]; ok != s.listener {
				t.Errorf("event %v: rps present = %v, listener seen = %v", ev, ok, s.listener)
			}
		})
	}
}
