package collectors

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

func TestK6Summary(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(p, []byte(`{"metrics":{
	  "backend_hits_accepted":{"count":400,"rate":40},
	  "backend_hits_accepted{metric:hits}":{"count":398,"rate":39.8,"thresholds":{"count==400":true}},
	  "checks":{"passes":10,"fails":0,"value":1,"thresholds":{"rate==1":false}},
	  "backend_call_duration":{"avg":1.2,"p(95)":3.4}}}`), 0o644)
	s, err := ReadK6Summary(p)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := s.Count("backend_hits_accepted{metric:hits}"); !ok || c != 398 {
		t.Errorf("count %v %v", c, ok)
	}
	if _, ok := s.Count("backend_call_duration"); ok {
		t.Error("a trend has no count")
	}
	th := s.Thresholds()
	if len(th) != 2 || th[0].Metric != "backend_hits_accepted{metric:hits}" || !th[0].Failed || th[1].Failed {
		t.Errorf("thresholds %+v", th)
	}
}

func TestUsageTotals(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var app string
		if _, err := fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/internal/services/svc/applications/"), "app-%s", &app); err != nil {
			http.Error(w, "bad path "+r.URL.Path, 400)
			return
		}
		if app == "9/usage/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"status":"found","totals":{"hits":10,"other":5}}`)
	}))
	defer srv.Close()
	apps := []string{"app-0", "app-1", "app-2", "app-9"}
	got, err := UsageTotals(context.Background(), srv.Client(), srv.URL, "svc", apps, "hits")
	if err != nil || got != 30 {
		t.Errorf("totals %v %v, want 30 (app-9 unknown counts 0)", got, err)
	}
	if _, err := UsageTotals(context.Background(), srv.Client(), srv.URL+"/x", "svc", apps, "hits"); err == nil {
		t.Error("HTTP errors must be reported")
	}
}

type seq struct{ vals []model.Value }

func (s *seq) Query(context.Context, string, time.Time, ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	v := s.vals[0]
	if len(s.vals) > 1 {
		s.vals = s.vals[1:]
	}
	return v, nil, nil, nil
}

func TestWaitZero(t *testing.T) {
	q := &seq{vals: []model.Value{model.Vector{{Value: 5}}, model.Vector{{Value: 2}}, &model.Scalar{Value: 0}}}
	d, err := WaitZero(context.Background(), q, "depth", time.Second, 0, time.Millisecond)
	if !d.Zero || d.Stalled || err != nil {
		t.Errorf("drain: %+v %v", d, err)
	}
	q = &seq{vals: []model.Value{model.Vector{{Value: 5}}}}
	d, err = WaitZero(context.Background(), q, "depth", 20*time.Millisecond, 0, time.Millisecond)
	if d.Zero || d.Stalled || d.Last != 5 || err != nil {
		t.Errorf("stuck queue must time out without error: %+v %v", d, err)
	}
	// A value that keeps moving is not a stall, however long it takes.
	moving := make([]model.Value, 0, 40)
	for i := 40; i > 0; i-- {
		moving = append(moving, model.Vector{{Value: model.SampleValue(i)}})
	}
	q = &seq{vals: append(moving, &model.Scalar{Value: 0})}
	d, err = WaitZero(context.Background(), q, "depth", 5*time.Second, 15*time.Millisecond, time.Millisecond)
	if !d.Zero || d.Stalled || err != nil {
		t.Errorf("moving queue must drain, not stall: %+v %v", d, err)
	}
	// A stuck value ends the wait after stall, well before the timeout.
	q = &seq{vals: []model.Value{model.Vector{{Value: 9}}, model.Vector{{Value: 7}}}}
	d, err = WaitZero(context.Background(), q, "depth", time.Minute, 20*time.Millisecond, time.Millisecond)
	if !d.Stalled || d.Zero || d.Last != 7 || err != nil {
		t.Errorf("stuck queue must stall: %+v %v", d, err)
	}
	// No series is not 0: a query that matches nothing (a misspelt
	// metric, the wrong namespace) is an error at once, not a drained queue.
	began := time.Now()
	q = &seq{vals: []model.Value{model.Vector{}}}
	d, err = WaitZero(context.Background(), q, "depth{namespace=\"typo\"}", time.Minute, 0, time.Millisecond)
	if !errors.Is(err, ErrNoSeries) || d.Zero || time.Since(began) > 5*time.Second {
		t.Errorf("no series must be an error at once: %+v %v", d, err)
	}
	// Series that go away after a value (the pods replaced) are waited
	// for: back and at 0 is drained, still gone at the timeout an error.
	q = &seq{vals: []model.Value{model.Vector{{Value: 3}}, model.Vector{}, model.Vector{}, &model.Scalar{Value: 0}}}
	if d, err = WaitZero(context.Background(), q, "depth", time.Minute, 0, time.Millisecond); !d.Zero || err != nil {
		t.Errorf("series back at 0: %+v %v", d, err)
	}
	q = &seq{vals: []model.Value{model.Vector{{Value: 3}}, model.Vector{}}}
	if d, err = WaitZero(context.Background(), q, "depth", 20*time.Millisecond, 0, time.Millisecond); d.Zero || err == nil || !strings.Contains(err.Error(), "went away after reading 3") {
		t.Errorf("series gone at the timeout: %+v %v", d, err)
	}
}
