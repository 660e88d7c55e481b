package listener_test

// The conformance suite: cases derived from Apisonator's own tests, each
// naming the test it comes from (file in 3scale/apisonator and test name),
// run against the real listener over HTTP and a real worker, on a real
// redis-server, once per queue format (v1 and v2). Each case provisions its
// own objects through the internal API (ids prefixed by the case, so cases
// share one Redis without meeting), makes its calls and checks statuses,
// bodies and headers; where usage is reported it lets the worker drain the
// queue and checks the ground truth (the usage totals) and, where it says,
// how many report jobs the worker ran.
//
// Apisonator's tests set time with Timecop and write usage with
// Transactor.report; here time is the clock's and usage is reported
// through POST /transactions.xml and applied by the worker. Where a case
// differs from its source for that reason or for a deliberate deviation
// (README, "Deviations"), its comment says how.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/worker"
	"github.com/prometheus/client_golang/prometheus"
)

// confStep is one request and what its answer must be.
type confStep struct {
	method, path, body string
	options            string // the 3scale-options request header
	status             int
	has                []string // substrings of the body
	hasNot             []string
	exact              *string           // the whole body
	headers            map[string]string // response headers; "" means absent
	drain              bool              // let the worker apply what is queued first
	check              func(t *testing.T, h http.Header, body string)
}

// confCase is one conformance case.
type confCase struct {
	endpoint string // authorize, authrep, report, oauth_authorize, oauth_authrep, internal
	source   string // Apisonator's test: path and name
	fixture  []confStep
	steps    []confStep
	// totals: after the queue drained, application -> metric -> usage
	// since ever (the internal API's ground truth); a metric at -1 must
	// not have been counted at all (no counter created).
	totals map[string]map[string]int64
	// jobs, when set, is how many report jobs the worker ran for the case.
	jobs *int
}

func jobs(n int) *int      { return &n }
func str(s string) *string { return &s }

// The fixtures: a service {S} of provider key {PK} with token {TOK}, metric
// hits (m1), and application {A} on plan {P} ("basic"). fx1 is the
// backend_version 1 variant ({A} has user key {UK}); fxOAuth the oauth one.
func fxService(version string) []confStep {
	return []confStep{
		cpost("/internal/services/", `{"service":{"id":"{S}","provider_key":"{PK}","backend_version":"`+version+`"}}`, 201),
		cpost("/internal/service_tokens/", `{"service_tokens":{"{TOK}":{"service_id":"{S}"}}}`, 201),
		cpost("/internal/services/{S}/metrics/m1", `{"metric":{"name":"hits"}}`, 201),
		cpost("/internal/services/{S}/applications/{A}", `{"application":{"state":"active","plan_id":"{P}","plan_name":"basic"}}`, 201),
	}
}

func fx2(extra ...confStep) []confStep { return append(fxService("2"), extra...) }
func fx1(extra ...confStep) []confStep {
	return append(append(fxService("1"), cput("/internal/services/{S}/applications/{A}/key/{UK}", "", 200)), extra...)
}
func fxOAuth(extra ...confStep) []confStep { return append(fxService("oauth"), extra...) }

func cpost(path, body string, status int) confStep {
	return confStep{method: "POST", path: path, body: body, status: status}
}
func cput(path, body string, status int) confStep {
	return confStep{method: "PUT", path: path, body: body, status: status}
}
func cget(path string, status int, has ...string) confStep {
	return confStep{method: "GET", path: path, status: status, has: has}
}
func limit(metric, period string, n int) confStep {
	return cput("/internal/services/{S}/plans/{P}/usagelimits/"+metric+"/"+period, `{"usagelimit":{"`+period+`":`+strconv.Itoa(n)+`}}`, 200)
}
func metric(id, name, parent string) confStep {
	p := "null"
	if parent != "" {
		p = `"` + parent + `"`
	}
	return cpost("/internal/services/{S}/metrics/"+id, `{"metric":{"name":"`+name+`","parent_id":`+p+`}}`, 201)
}
func app(id, state string) confStep {
	return cpost("/internal/services/{S}/applications/"+id, `{"application":{"state":"`+state+`","plan_id":"{P}","plan_name":"basic"}}`, 201)
}
func appKey(appID, key string) confStep {
	return cpost("/internal/services/{S}/applications/"+appID+"/keys/", `{"application_key":{"value":"`+key+`"}}`, 201)
}

// report is a POST /transactions.xml of usage for {A}, answered 202.
func report(usage string) confStep {
	return cpost("/transactions.xml", "provider_key={PK}&transactions[0][app_id]={A}&"+usage, 202)
}

// errXML is Apisonator's error body.
func errXML(code, msg string) *string {
	return str(`<?xml version="1.0" encoding="UTF-8"?><error code="` + code + `">` + msg + `</error>`)
}

// usageReport is one <usage_report> of a day or month period, with the
// period's bounds as of now.
func usageReport(metric, period string, max, cur int, exceeded bool) string {
	ex := ""
	if exceeded {
		ex = ` exceeded="true"`
	}
	now := time.Now().UTC()
	var start, end time.Time
	switch period {
	case "day":
		start = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 0, 1)
	case "month":
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 1, 0)
	}
	bounds := ""
	if !start.IsZero() {
		const f = "2006-01-02 15:04:05 -0700"
		bounds = "<period_start>" + start.Format(f) + "</period_start><period_end>" + end.Format(f) + "</period_end>"
	}
	return fmt.Sprintf(`<usage_report metric="%s" period="%s"%s>%s<max_value>%d</max_value><current_value>%d</current_value></usage_report>`,
		metric, period, ex, bounds, max, cur)
}

const authorized = "<authorized>true</authorized>"

func denied(reason string) string {
	return "<authorized>false</authorized><reason>" + reason + "</reason>"
}

// harness is one listener, one worker and one Redis for a queue format.
type harness struct {
	e   *env
	f   queue.Format
	reg *prometheus.Registry
}

func newHarness(t *testing.T, f queue.Format) *harness {
	e := start(t, f)
	reg := prometheus.NewRegistry()
	w, err := worker.New(e.rdb, worker.Config{Format: f, Concurrency: 2, Consumer: "conformance", Block: 20 * time.Millisecond}, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return &harness{e: e, f: f, reg: reg}
}

// jobsRun is the worker's apisonator_worker_job_count, all types.
func (h *harness) jobsRun(t *testing.T) int {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "apisonator_worker_job_count" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return int(n)
}

// drain waits until the queue is empty and the worker has stopped
// counting jobs (a v1 job popped is out of the queue before it is applied).
func (h *harness) drain(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		d, err := queue.Depth(context.Background(), h.e.rdb, h.f)
		if err != nil {
			t.Fatal(err)
		}
		if d == 0 {
			before := h.jobsRun(t)
			time.Sleep(60 * time.Millisecond)
			if h.jobsRun(t) == before {
				return
			}
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the %s queue did not drain within 15s", h.f)
}

func (h *harness) do(t *testing.T, s confStep) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(s.method, h.e.url+s.path, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	if s.body != "" {
		if strings.HasPrefix(s.body, "{") {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if s.options != "" {
		req.Header.Set("3scale-options", s.options)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", s.method, s.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// run runs one step and reports every way its answer differs.
func (h *harness) run(t *testing.T, s confStep) {
	t.Helper()
	if s.drain {
		h.drain(t)
	}
	code, hdr, body := h.do(t, s)
	where := s.method + " " + s.path
	if s.options != "" {
		where += " [3scale-options: " + s.options + "]"
	}
	if code != s.status {
		t.Errorf("%s: status %d, want %d (body %s)", where, code, s.status, body)
	}
	for _, w := range s.has {
		if !strings.Contains(body, w) {
			t.Errorf("%s: body %s\n  does not contain %s", where, body, w)
		}
	}
	for _, w := range s.hasNot {
		if strings.Contains(body, w) {
			t.Errorf("%s: body %s\n  contains %s", where, body, w)
		}
	}
	if s.exact != nil && body != *s.exact {
		t.Errorf("%s: body %q, want %q", where, body, *s.exact)
	}
	for k, v := range s.headers {
		if got := hdr.Get(k); got != v {
			t.Errorf("%s: header %s = %q, want %q", where, k, got, v)
		}
	}
	if s.check != nil {
		s.check(t, hdr, body)
	}
}

func (h *harness) totals(t *testing.T, sid, aid string) map[string]int64 {
	t.Helper()
	_, body := h.e.do(t, "GET", "/internal/services/"+sid+"/applications/"+aid+"/usage/", "")
	var out struct {
		Totals map[string]int64 `json:"totals"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("usage read: %v: %s", err, body)
	}
	return out.Totals
}

// expand fills a case's placeholders with its own ids.
func expand(prefix string) *strings.Replacer {
	return strings.NewReplacer("{S}", prefix+"-svc", "{PK}", prefix+"-pk", "{TOK}", prefix+"-tok",
		"{A}", prefix+"-app", "{P}", prefix+"-plan", "{UK}", prefix+"-uk")
}

func (s confStep) expanded(r *strings.Replacer) confStep {
	s.path, s.body, s.options = r.Replace(s.path), r.Replace(s.body), r.Replace(s.options)
	s.has = replaceAll(r, s.has)
	s.hasNot = replaceAll(r, s.hasNot)
	if s.exact != nil {
		s.exact = str(r.Replace(*s.exact))
	}
	return s
}

func replaceAll(r *strings.Replacer, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = r.Replace(x)
	}
	return out
}

func TestConformance(t *testing.T) {
	cases := conformanceCases()
	for _, f := range []queue.Format{queue.V1, queue.V2} {
		t.Run(string(f), func(t *testing.T) {
			h := newHarness(t, f)
			for i, c := range cases {
				name := fmt.Sprintf("%s/%03d", c.endpoint, i)
				t.Run(name, func(t *testing.T) {
					if c.source == "" || len(c.steps) == 0 {
						t.Fatalf("case without a source or steps")
					}
					t.Logf("from Apisonator's %s", c.source)
					r := expand(fmt.Sprintf("c%03d", i))
					for _, s := range c.fixture {
						h.run(t, s.expanded(r))
					}
					if t.Failed() {
						t.Fatalf("fixture failed (from %s)", c.source)
					}
					h.drain(t)
					before := h.jobsRun(t)
					for _, s := range c.steps {
						h.run(t, s.expanded(r))
					}
					if c.totals != nil || c.jobs != nil {
						h.drain(t)
					}
					for aid, want := range c.totals {
						got := h.totals(t, r.Replace("{S}"), r.Replace(aid))
						for m, n := range want {
							v, ok := got[m]
							switch {
							case n < 0 && ok:
								t.Errorf("usage of %s: %s counted (%d), want no counter at all", aid, m, v)
							case n >= 0 && v != n:
								t.Errorf("usage of %s: %s = %d, want %d (all totals %v)", aid, m, v, n, got)
							}
						}
					}
					if c.jobs != nil {
						if got := h.jobsRun(t) - before; got != *c.jobs {
							t.Errorf("report jobs run: %d, want %d", got, *c.jobs)
						}
					}
					if t.Failed() {
						t.Logf("failed case comes from Apisonator's %s", c.source)
					}
				})
			}
		})
	}
}
