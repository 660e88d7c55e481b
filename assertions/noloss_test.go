package assertions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/scenario"
)

// noLoss compares k6's count of accepted hits with the usage the listener
// reports for every application, both ways.
func TestNoLoss(t *testing.T) {
	perApp := 50.0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"status":"found","totals":{"hits":%g}}`, perApp)
	}))
	defer srv.Close()
	var asked string
	env := &Env{Window: scenario.Window{End: time.Now()},
		K6Count: func(_ context.Context, metric string) (float64, error) { asked = metric; return 100, nil },
		ServiceURL: func(_ context.Context, tg scenario.Target) (string, error) {
			if tg.Service != "listener" {
				return "", fmt.Errorf("no service %s", tg.Service)
			}
			return srv.URL, nil
		}}
	a := scenario.Assertion{Name: "no-loss", NoLoss: &scenario.NoLoss{Service: "svc", Apps: 2, AppPrefix: "app-",
		Metric: "hits", K6Metric: "backend_hits_accepted{metric:hits}", Listener: scenario.Target{Service: "listener", Port: 3000}}}
	if KindOf(a).Name() != KindNoLoss {
		t.Fatalf("kind %s", KindOf(a).Name())
	}
	r := Evaluate(context.Background(), env, []scenario.Assertion{a})[0]
	if r.Status != Pass || *r.Value != 0 || len(r.Series) != 2 || asked != "backend_hits_accepted{metric:hits}" {
		t.Errorf("2×50 = 100 accepted: %+v (asked k6 for %q)", r, asked)
	}
	perApp = 40 // 20 hits lost
	if r := Evaluate(context.Background(), env, []scenario.Assertion{a})[0]; r.Status != Fail || *r.Value != 20 {
		t.Errorf("lost hits: %+v", r)
	}
	perApp = 60 // 20 hits doubled
	if r := Evaluate(context.Background(), env, []scenario.Assertion{a})[0]; r.Status != Fail || *r.Value != 20 {
		t.Errorf("doubled hits: %+v", r)
	}
	env.K6Count = func(context.Context, string) (float64, error) { return 0, errors.New("no summary") }
	if r := Evaluate(context.Background(), env, []scenario.Assertion{a})[0]; r.Status != Error || r.Error != "no summary" {
		t.Errorf("without k6's count: %+v", r)
	}
}

// The usage read sends the internal API's credentials from the Secret named,
// or from backend-internal-api when the namespace has it.
func TestNoLossSendsTheInternalAPICredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "perfrun" || p != "pw" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, `{"status":"found","totals":{"hits":50}}`)
	}))
	defer srv.Close()
	secrets := map[string]map[string][]byte{}
	env := &Env{Window: scenario.Window{End: time.Now()},
		K6Count:    func(context.Context, string) (float64, error) { return 100, nil },
		ServiceURL: func(context.Context, scenario.Target) (string, error) { return srv.URL, nil },
		Secret: func(_ context.Context, name string) (map[string][]byte, bool, error) {
			d, ok := secrets[name]
			return d, ok, nil
		}}
	a := func(secret string) []scenario.Assertion {
		return []scenario.Assertion{{Name: "no-loss", NoLoss: &scenario.NoLoss{Service: "svc", Apps: 2, AppPrefix: "app-",
			Metric: "hits", K6Metric: "k", Listener: scenario.Target{Service: "listener", Port: 3000}, Secret: secret}}}
	}
	if r := Evaluate(context.Background(), env, a(""))[0]; r.Status != Error || !strings.Contains(r.Error, "HTTP 401") {
		t.Errorf("no Secret, a guarded API: %+v, want the 401 as an error", r)
	}
	secrets[DefaultInternalAPISecret] = map[string][]byte{"username": []byte("perfrun"), "password": []byte("pw")}
	if r := Evaluate(context.Background(), env, a(""))[0]; r.Status != Pass {
		t.Errorf("default Secret: %+v, want pass", r)
	}
	if r := Evaluate(context.Background(), env, a("other"))[0]; r.Status != Error || !strings.Contains(r.Error, "secret other") {
		t.Errorf("a named Secret that is missing: %+v, want an error naming it", r)
	}
	secrets["other"] = secrets[DefaultInternalAPISecret]
	delete(secrets, DefaultInternalAPISecret)
	if r := Evaluate(context.Background(), env, a("other"))[0]; r.Status != Pass {
		t.Errorf("named Secret: %+v, want pass", r)
	}
}

// Every kind is found by its own scenario field, and compare's default
// tolerances come from the kinds that have one.
func TestKindsCoverTheScenarioFields(t *testing.T) {
	one := 1.0
	for want, a := range map[string]scenario.Assertion{
		KindQuery:            {Query: "x", Op: "<", Bound: &one},
		KindThroughput:       {Throughput: &scenario.Throughput{Floor: 1}},
		KindEvenDistribution: {EvenDistribution: &scenario.EvenDistribution{Max: 1.5}},
		KindDisruption:       {Disruption: &scenario.Disruption{Chaos: "k", Deadline: "1", Replicas: 3}},
		KindNoLoss:           {NoLoss: &scenario.NoLoss{Service: "s", Apps: 1}},
	} {
		if k := KindOf(a); k == nil || k.Name() != want {
			t.Errorf("%s: kind %v", want, k)
		}
	}
	if k := KindOf(scenario.Assertion{Name: "none"}); k != nil {
		t.Errorf("an empty assertion has kind %s", k.Name())
	}
	names := map[string]bool{}
	for _, k := range Kinds() {
		if names[k.Name()] {
			t.Errorf("kind %s twice", k.Name())
		}
		names[k.Name()] = true
	}
}
