package assertions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/scenario"
)

func coreEnv(q Querier, pods []PodCPU, err error) *Env {
	start := time.Unix(1_800_000_000, 0)
	return &Env{Q: q, Window: scenario.Window{Start: start, End: start.Add(60 * time.Second), Namespace: "ns"},
		PodsCPU: func(_ context.Context, workloads []string) ([]PodCPU, error) {
			var out []PodCPU
			for _, p := range pods {
				for _, w := range workloads {
					if p.Workload == w {
						out = append(out, p)
					}
				}
			}
			return out, err
		}}
}

func coreAssertion(min float64, components ...string) scenario.Assertion {
	return scenario.Assertion{Name: "cores", CoreUtilization: &scenario.CoreUtilization{Components: components, Min: min,
		Skip: scenario.D(15 * time.Second), Metric: scenario.DefaultCPUMetric}}
}

func cpuSample(pod, container string, cores float64) *model.Sample {
	m := model.Metric{"pod": model.LabelValue(pod)}
	if container != "" {
		m["container"] = model.LabelValue(container)
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(cores), Timestamp: 1_800_000_060_000}
}

var corePods = []PodCPU{
	{Pod: "worker-5c-b", Workload: "worker", Limits: map[string]float64{"worker": 0}},
	{Pod: "listener-7d-a", Workload: "listener", Limits: map[string]float64{"listener": 0.5}},
	{Pod: "redis-1-c", Workload: "redis", Limits: map[string]float64{"redis": 0}},
}

// The value is the lowest pod's share of its limit (one core without
// one), over the load after skip; every pod is named with its share.
func TestCoreUtilizationPasses(t *testing.T) {
	f := &fakeQuerier{instant: model.Vector{cpuSample("listener-7d-a", "listener", 0.48), cpuSample("worker-5c-b", "worker", 0.95)}}
	r := KindOf(coreAssertion(0.9, "listener", "worker")).Evaluate(context.Background(), coreEnv(f, corePods, nil), coreAssertion(0.9, "listener", "worker"))
	if r.Status != Pass || r.Value == nil || *r.Value != 0.95 || r.Op != ">=" || r.Bound != 0.9 || r.Kind != KindCoreUtilization {
		t.Fatalf("result %+v (error %s)", r, r.Error)
	}
	want := `max by (pod, container) (rate(process_cpu_seconds_total{namespace="ns",pod=~"listener-7d-a|worker-5c-b"}[45s] @ 1800000060))`
	if len(f.queries) != 1 || f.queries[0] != want || r.Query != want {
		t.Errorf("queries %q, want %q", f.queries, want)
	}
	for _, s := range []string{"listener-7d-a 0.96 (0.480 of 0.5 cores)", "worker-5c-b 0.95 (0.950 of 1 cores)"} {
		if !strings.Contains(r.Description, s) {
			t.Errorf("description %q does not name %q", r.Description, s)
		}
	}
	if len(r.Series) != 2 || r.Series[0].Labels["pod"] != "listener-7d-a" || r.Series[0].Points[0].V != 0.96 || r.Series[1].Labels["workload"] != "worker" {
		t.Errorf("series %+v", r.Series)
	}
}

// A synchronous listener that waits on Redis uses a fraction of its core.
func TestCoreUtilizationFails(t *testing.T) {
	f := &fakeQuerier{instant: model.Vector{cpuSample("listener-7d-a", "listener", 0.1)}}
	a := coreAssertion(0.9, "listener")
	r := KindOf(a).Evaluate(context.Background(), coreEnv(f, corePods, nil), a)
	if r.Status != Fail || r.Value == nil || *r.Value != 0.2 {
		t.Fatalf("result %+v (error %s)", r, r.Error)
	}
	if !strings.Contains(f.queries[0], `pod=~"listener-7d-a"`) {
		t.Errorf("query %s asks for other pods than the listener's", f.queries[0])
	}
}

// A pod with no series is an error, never a pass; so are a component with
// no pods, a run with no cluster to read, a series of a container the pod
// does not have and a failed query.
func TestCoreUtilizationErrors(t *testing.T) {
	twoContainers := []PodCPU{{Pod: "listener-7d-a", Workload: "listener", Limits: map[string]float64{"listener": 0.5, "sidecar": 0.1}}}
	cases := []struct {
		name  string
		env   *Env
		a     scenario.Assertion
		error string
	}{
		{"no series", coreEnv(&fakeQuerier{instant: model.Vector{cpuSample("listener-7d-a", "listener", 0.5)}}, corePods, nil),
			coreAssertion(0.9, "listener", "worker"), "pod worker-5c-b has no process_cpu_seconds_total series over the window (is it scraped?)"},
		{"no data", coreEnv(&fakeQuerier{instant: model.Vector{}}, corePods, nil),
			coreAssertion(0.9, "listener"), "pod listener-7d-a has no process_cpu_seconds_total series"},
		{"no pods", coreEnv(&fakeQuerier{}, corePods, nil), coreAssertion(0.9, "listener", "controller"), "no pods of controller in the run's namespace"},
		{"no cluster", &Env{}, coreAssertion(0.9, "listener"), "this run has no cluster to read the pods' CPU limits from"},
		{"pods error", coreEnv(&fakeQuerier{}, corePods, errors.New("forbidden")), coreAssertion(0.9, "listener"), "reading the pods' CPU limits: forbidden"},
		{"query error", coreEnv(&fakeQuerier{err: errors.New("boom")}, corePods, nil), coreAssertion(0.9, "listener"), "query: boom"},
		{"unknown container", coreEnv(&fakeQuerier{instant: model.Vector{cpuSample("listener-7d-a", "other", 0.5)}}, twoContainers, nil),
			coreAssertion(0.9, "listener"), `pod listener-7d-a: a series of container "other", which the pod does not have`},
		{"no container label, two containers", coreEnv(&fakeQuerier{instant: model.Vector{cpuSample("listener-7d-a", "", 0.5)}}, twoContainers, nil),
			coreAssertion(0.9, "listener"), `a series of container ""`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := coreUtilizationKind{}.Evaluate(context.Background(), tc.env, tc.a)
			if r.Status != Error || r.Value != nil || !strings.Contains(r.Error, tc.error) {
				t.Errorf("result %+v, want an error containing %q", r, tc.error)
			}
		})
	}
}

// Each container of a pod is judged against its own limit; a series
// without a container label belongs to a pod's only container.
func TestCoreUtilizationContainers(t *testing.T) {
	pods := []PodCPU{{Pod: "listener-7d-a", Workload: "listener", Limits: map[string]float64{"listener": 0.5, "sidecar": 0.25}}}
	f := &fakeQuerier{instant: model.Vector{cpuSample("listener-7d-a", "listener", 0.5), cpuSample("listener-7d-a", "sidecar", 0.05)}}
	a := coreAssertion(0.9, "listener")
	r := coreUtilizationKind{}.Evaluate(context.Background(), coreEnv(f, pods, nil), a)
	if r.Status != Fail || *r.Value != 0.2 || !strings.Contains(r.Description, "listener-7d-a/sidecar 0.20 (0.050 of 0.25 cores)") {
		t.Errorf("result %+v", r)
	}
	f = &fakeQuerier{instant: model.Vector{cpuSample("worker-5c-b", "", 0.97)}}
	r = coreUtilizationKind{}.Evaluate(context.Background(), coreEnv(f, corePods, nil), coreAssertion(0.9, "worker"))
	if r.Status != Pass || *r.Value != 0.97 || r.Series[0].Labels["container"] != "worker" {
		t.Errorf("result %+v", r)
	}
}

// The query perfrun builds is parsed before the run; a metric the
// validation lets through still has to make valid PromQL.
func TestCoreUtilizationCheckQueries(t *testing.T) {
	s := &scenario.Scenario{Spec: scenario.Spec{
		System:     scenario.System{Metrics: scenario.ReferenceMetrics()},
		Load:       scenario.Load{Duration: scenario.D(60 * time.Second)},
		Assertions: []scenario.Assertion{coreAssertion(0.9, "listener", "worker.x")},
	}}
	if err := CheckQueries(s); err != nil {
		t.Fatal(err)
	}
	s.Spec.Assertions[0].CoreUtilization.Metric = "process_cpu_seconds_total offset 1m"
	if err := CheckQueries(s); err == nil || !strings.Contains(err.Error(), "spec.assertions[0].coreUtilization: the query perfrun builds from it is not valid PromQL") {
		t.Errorf("err = %v", err)
	}
	if k, ok := KindOf(s.Spec.Assertions[0]).Tolerance(); !ok || k.Direction != "higher" {
		t.Errorf("tolerance %+v %v", k, ok)
	}
}
