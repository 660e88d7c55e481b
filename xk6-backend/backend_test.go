package backend

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.k6.io/k6/js/modulestest"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"
)

// fakeSystem answers as the listener does, for the unit tests: user keys
// key-0..key-9 are authorized, "limited" gets a 409, anything else a 403.
type fakeSystem struct {
	mu        sync.Mutex
	requests  []string // method + path (+ query)
	bodies    []string
	items     map[string]int // polls left before the item is reconciled
	closeEach bool           // answer with Connection: close
	// user and pass, when set, guard /internal/ with basic auth (401).
	user, pass string
	auths      []string // the Authorization header of every request
}

func (f *fakeSystem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	f.bodies = append(f.bodies, string(body))
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	closeEach := f.closeEach
	user, pass := f.user, f.pass
	f.mu.Unlock()
	if u, p, _ := r.BasicAuth(); (user != "" || pass != "") && strings.HasPrefix(r.URL.Path, "/internal/") && (u != user || p != pass) {
		w.Header().Set("WWW-Authenticate", `Basic realm=""`)
		w.WriteHeader(401)
		return
	}
	if closeEach {
		w.Header().Set("Connection", "close")
	}
	switch {
	case r.URL.Path == "/transactions/authrep.xml" || r.URL.Path == "/transactions/authorize.xml":
		if r.URL.Query().Get("service_token") != "tok" || r.URL.Query().Get("service_id") != "svc" {
			w.WriteHeader(403)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><error code="service_token_invalid">service token "x" or service id "svc" is invalid</error>`)
			return
		}
		switch k := r.URL.Query().Get("user_key"); {
		case strings.HasPrefix(k, "key-"):
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>basic</plan></status>`)
		case k == "limited":
			w.WriteHeader(409)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><status><authorized>false</authorized><reason>usage limits are exceeded</reason><plan>basic</plan></status>`)
		case strings.HasPrefix(k, "chunked"):
			w.Header().Set("Content-Type", "application/vnd.3scale-v2.0+xml")
			fmt.Fprint(w, `<status><authorized>true</authorized>`)
			w.(http.Flusher).Flush() // forces chunked encoding
			fmt.Fprint(w, `<plan>basic</plan></status>`)
		case strings.HasPrefix(k, "slow"):
			time.Sleep(300 * time.Millisecond)
			fmt.Fprint(w, `<status><authorized>true</authorized></status>`)
		default:
			w.WriteHeader(403)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><error code="user_key_invalid">user key &quot;%s&quot; is invalid</error>`, k)
		}
	case r.URL.Path == "/transactions.xml":
		w.WriteHeader(202)
	case r.Method == "POST" && r.URL.Path == "/internal/items/":
		var in struct {
			Item struct{ Key string } `json:"item"`
		}
		_ = json.Unmarshal(body, &in)
		f.mu.Lock()
		if f.items == nil {
			f.items = map[string]int{}
		}
		if _, ok := f.items[in.Item.Key]; !ok {
			f.items[in.Item.Key] = 2
		}
		f.mu.Unlock()
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"status":"created","item":{"key":%q}}`, in.Item.Key)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/internal/items/"):
		key := strings.TrimPrefix(r.URL.Path, "/internal/items/")
		f.mu.Lock()
		left, ok := f.items[key]
		if ok && left > 0 {
			f.items[key]--
		}
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"status":"not_found","error":"item not found"}`)
			return
		}
		created := "2026-11-23T10:00:00Z"
		it := map[string]any{"key": key, "created_at": created, "bucket": "b0", "reconciles": 0}
		if left == 0 && key != "never" {
			lat := 100 * time.Millisecond
			if key == "late" {
				lat = 3 * time.Second
			}
			it["reconciled_at"] = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(lat).Format(time.RFC3339Nano)
			it["reconciled_by"] = "controller-1"
			it["reconciles"] = 1
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "found", "item": it})
	case strings.HasPrefix(r.URL.Path, "/internal/"):
		if r.Method == "PUT" {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(201)
		}
		fmt.Fprint(w, `{"status":"created"}`)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeSystem) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

type testVU struct {
	rt      *modulestest.Runtime
	samples chan metrics.SampleContainer
}

// newTestVU loads the module into a test runtime, runs init (the init
// context code), then moves the VU to its running state.
func newTestVU(t testing.TB, init string) *testVU {
	t.Helper()
	rt := modulestest.NewRuntime(t)
	mi := New().NewModuleInstance(rt.VU)
	if err := rt.VU.RuntimeField.Set("backend", mi.Exports().Named); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.VU.RuntimeField.RunString(init); err != nil {
		t.Fatalf("init code: %v", err)
	}
	samples := make(chan metrics.SampleContainer, 10000)
	registry := rt.VU.InitEnvField.Registry
	rt.MoveToVUContext(&lib.State{
		Samples:    samples,
		Tags:       lib.NewVUStateTags(registry.RootTagSet().With("scenario", "test")),
		VUIDGlobal: 7,
	})
	return &testVU{rt: rt, samples: samples}
}

func (v *testVU) run(t *testing.T, code string) any {
	t.Helper()
	val, err := v.rt.VU.RuntimeField.RunString(code)
	if err != nil {
		t.Fatalf("running %s: %v", code, err)
	}
	return val.Export()
}

// totals sums the buffered samples per metric name and tag set.
func (v *testVU) totals() map[string]float64 {
	out := map[string]float64{}
	for _, sc := range metrics.GetBufferedSamples(v.samples) {
		for _, s := range sc.GetSamples() {
			key := s.Metric.Name
			tags := s.Tags.Map()
			for _, k := range []string{"call", "outcome", "metric", "owner"} {
				if tv, ok := tags[k]; ok {
					key += "{" + k + "=" + tv + "}"
				}
			}
			if tags["scenario"] != "test" {
				key += "{scenario missing}"
			}
			if s.Metric.Type == metrics.Trend {
				out[key]++ // count the samples of a trend
			} else {
				out[key] += s.Value
			}
		}
	}
	return out
}

func startFake(t testing.TB) (*fakeSystem, string) {
	f := &fakeSystem{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestAuthrepOutcomesAndMetrics(t *testing.T) {
	_, url := startFake(t)
	vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok', timeout: '2s'});`, url))

	got := vu.run(t, `
		var out = [];
		for (var i = 0; i < 3; i++) { out.push(c.authrep('key-' + i, {hits: 2, searches: 1}).outcome); }
		out.push(c.authrep({userKey: 'limited'}, {hits: 1}).outcome);
		var r = c.authrep('nope', {hits: 1});
		out.push(r.outcome, r.status, r.code, r.reason);
		out.push(c.authorize('key-1').authorized);
		out.push(c.authrep('chunked', {hits: 1}).outcome);
		JSON.stringify(out);
	`)
	want := `["authorized","authorized","authorized","limited","rejected",403,"user_key_invalid","user key \"nope\" is invalid",true,"authorized"]`
	if got != want {
		t.Fatalf("results:\n got %v\nwant %s", got, want)
	}
	tot := vu.totals()
	wantTot := map[string]float64{
		"backend_call_duration{call=authrep}":                 6,
		"backend_call_duration{call=authorize}":               1,
		"backend_results{call=authrep}{outcome=authorized}":   4,
		"backend_results{call=authrep}{outcome=limited}":      1,
		"backend_results{call=authrep}{outcome=rejected}":     1,
		"backend_results{call=authorize}{outcome=authorized}": 1,
		"backend_hits_accepted{metric=hits}":                  7, // 3×2 + chunked 1; limited and rejected not counted
		"backend_hits_accepted{metric=searches}":              3,
	}
	if fmt.Sprint(tot) != fmt.Sprint(wantTot) {
		t.Fatalf("metrics:\n got %v\nwant %v", tot, wantTot)
	}
}

func TestErrorIsAResultNotAnException(t *testing.T) {
	_, url := startFake(t)
	vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok', timeout: 50});
		var dead = new backend.Client({targets: ['http://127.0.0.1:1'], serviceId: 'svc', serviceToken: 'tok'});`, url))
	got := vu.run(t, `JSON.stringify([c.authrep('slow', {hits: 1}).outcome, dead.authrep('key-1', {hits: 1}).outcome, dead.authrep('key-1').error.length > 0])`)
	if got != `["error","error",true]` {
		t.Fatalf("got %v", got)
	}
	tot := vu.totals()
	if tot["backend_results{call=authrep}{outcome=error}"] != 3 || tot["backend_hits_accepted{metric=hits}"] != 0 {
		t.Fatalf("metrics: %v", tot)
	}
}

func TestReportBatchCountsEveryTransaction(t *testing.T) {
	f, url := startFake(t)
	vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', providerKey: 'pk'});`, url))
	got := vu.run(t, `var r = c.report([{userKey: 'key-1', usage: {hits: 3}}, {appId: 'app-2', usage: {hits: 2, searches: 1}}]); r.status + ' ' + r.outcome`)
	if got != "202 authorized" {
		t.Fatalf("got %v", got)
	}
	f.mu.Lock()
	body := f.bodies[len(f.bodies)-1]
	f.mu.Unlock()
	for _, want := range []string{"provider_key=pk", "service_id=svc", "transactions%5B0%5D%5Buser_key%5D=key-1", "transactions%5B1%5D%5Bapp_id%5D=app-2", "transactions%5B1%5D%5Busage%5D%5Bsearches%5D=1"} {
		if !strings.Contains(body, want) {
			t.Errorf("report body %q lacks %q", body, want)
		}
	}
	if tot := vu.totals(); tot["backend_hits_accepted{metric=hits}"] != 5 || tot["backend_results{call=report}{outcome=authorized}"] != 1 {
		t.Fatalf("metrics: %v", tot)
	}
}

func TestRoundRobinOverTargets(t *testing.T) {
	f1, url1 := startFake(t)
	f2, url2 := startFake(t)
	vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q, %q], serviceId: 'svc', serviceToken: 'tok'});`, url1, url2))
	vu.run(t, `for (var i = 0; i < 10; i++) c.authrep('key-1', {hits: 1});`)
	if n1, n2 := len(f1.seen()), len(f2.seen()); n1 != 5 || n2 != 5 {
		t.Fatalf("requests per target: %d and %d, want 5 and 5", n1, n2)
	}
}

func TestProvisionIsIdempotentUpserts(t *testing.T) {
	f, url := startFake(t)
	vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok'});`, url))
	spec := `({metrics: [{name: 'searches', parent: 'hits'}, {name: 'hits'}],
		plans: [{id: 'basic', limits: {hits: {minute: 1000}}}],
		applications: {count: 3}})`
	got := vu.run(t, `JSON.stringify(c.provision(`+spec+`))`)
	if got != `{"service":"svc","metrics":2,"plans":1,"applications":3,"idPrefix":"app-","keyPrefix":"key-"}` {
		t.Fatalf("got %v", got)
	}
	vu.run(t, `c.provision(`+spec+`)`) // a re-run succeeds
	reqs := f.seen()
	for _, want := range []string{
		"POST /internal/services/", "POST /internal/service_tokens/",
		"POST /internal/services/svc/metrics/hits", "POST /internal/services/svc/metrics/searches",
		"PUT /internal/services/svc/plans/basic/usagelimits/hits/minute",
		"PUT /internal/services/svc/applications/app-2", "PUT /internal/services/svc/applications/app-2/key/key-2",
	} {
		n := 0
		for _, r := range reqs {
			if r == want {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%q sent %d times over two runs, want 2", want, n)
		}
	}
	// Parents before children.
	hits, searches := -1, -1
	for i, r := range reqs {
		if hits < 0 && r == "POST /internal/services/svc/metrics/hits" {
			hits = i
		}
		if searches < 0 && r == "POST /internal/services/svc/metrics/searches" {
			searches = i
		}
	}
	if hits > searches {
		t.Errorf("metric hits created after its child searches: %v", reqs)
	}
}

// Setup is not the measured load: a system slower than the client's call
// timeout (a listener throttled to 20m CPU answered its first request after
// more than 5 s) is still provisioned, so that the load can show it.
func TestProvisionOutlastsTheCallTimeout(t *testing.T) {
	f := &fakeSystem{}
	var first sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.Do(func() { time.Sleep(400 * time.Millisecond) })
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok', timeout: '50ms'});`, srv.URL))
	if got := vu.run(t, `c.provision({plans: [{id: 'basic', limits: {hits: {minute: 1000}}}], applications: {count: 2}}).applications`); got != int64(2) {
		t.Fatalf("provisioned %v applications, want 2", got)
	}
}

// With internalUser/internalPassword, provisioning and items send basic
// auth to the internal API, and only there; without them a guarded internal
// API's 401 is the error.
func TestInternalAPICredentials(t *testing.T) {
	f, url := startFake(t)
	f.user, f.pass = "perfrun", "pw"
	spec := `({plans: [{id: 'basic', limits: {hits: {minute: 1000}}}], applications: {count: 2}})`
	open := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok'});`, url))
	if _, err := open.rt.VU.RuntimeField.RunString(`c.provision(` + spec + `)`); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("provision without credentials: %v, want the 401", err)
	}
	vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok', internalUser: 'perfrun', internalPassword: 'pw'});`, url))
	if got := vu.run(t, `c.provision(`+spec+`).applications`); got != int64(2) {
		t.Fatalf("provisioned %v applications, want 2", got)
	}
	if got := vu.run(t, `c.reconcileItem('k1', {deadline: '1s', timeout: '2s', poll: '5ms'}).reconciled`); got != true {
		t.Fatalf("reconcileItem with credentials: reconciled=%v", got)
	}
	vu.run(t, `c.authrep('key-1', {hits: 1})`)
	f.mu.Lock()
	defer f.mu.Unlock()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("perfrun:pw"))
	for i, r := range f.requests {
		internal := strings.HasPrefix(r, "POST /internal/") || strings.HasPrefix(r, "PUT /internal/") || strings.HasPrefix(r, "GET /internal/")
		if internal && f.auths[i] != want && f.auths[i] != "" {
			t.Errorf("%s sent Authorization %q", r, f.auths[i])
		}
		if !internal && f.auths[i] != "" {
			t.Errorf("%s sent the internal API's credentials", r)
		}
	}
}

// The service's backend_version follows how its applications authenticate:
// 1 for user keys, 2 for app id and app key (Apisonator reads only the one
// credential its version names).
func TestProvisionBackendVersion(t *testing.T) {
	for spec, want := range map[string]string{
		`({applications: {count: 1, plan: 'p'}})`:                                     `"backend_version":"1"`,
		`({applications: {count: 1, plan: 'p', appKeys: true}})`:                      `"backend_version":"2"`,
		`({service: {backendVersion: 'oauth'}, applications: {count: 1, plan: 'p'}})`: `"backend_version":"oauth"`,
	} {
		f, url := startFake(t)
		vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok'});`, url))
		vu.run(t, `c.provision(`+spec+`)`)
		f.mu.Lock()
		got := f.bodies[0]
		f.mu.Unlock()
		if !strings.Contains(got, want) {
			t.Errorf("provision(%s) sent %s, want %s", spec, got, want)
		}
	}
}

func TestProvisionRejectsBadPeriod(t *testing.T) {
	_, url := startFake(t)
	vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok'});`, url))
	_, err := vu.rt.VU.RuntimeField.RunString(`c.provision({plans: [{id: 'p', limits: {hits: {fortnight: 1}}}]})`)
	if err == nil || !strings.Contains(err.Error(), "plans[0].limits.hits.fortnight") {
		t.Fatalf("want an error naming plans[0].limits.hits.fortnight, got %v", err)
	}
}

func TestClientOptionsErrorsNameTheField(t *testing.T) {
	for opts, field := range map[string]string{
		`{serviceId: 's', serviceToken: 't'}`:                                      "targets",
		`{targets: ['ftp://x'], serviceId: 's', serviceToken: 't'}`:                "scheme must be http",
		`{targets: ['http://127.0.0.1:1']}`:                                        "serviceToken or providerKey",
		`{targets: ['http://127.0.0.1:1'], serviceToken: 't'}`:                     "serviceId",
		`{targets: ['http://127.0.0.1:1'], providerKey: 'p', timeout: 'x'}`:        "timeout",
		`{targets: ['http://127.0.0.1:1'], providerKey: 'p', internalUser: 'a:b'}`: "internalUser",
	} {
		rt := modulestest.NewRuntime(t)
		mi := New().NewModuleInstance(rt.VU)
		_ = rt.VU.RuntimeField.Set("backend", mi.Exports().Named)
		_, err := rt.VU.RuntimeField.RunString(`new backend.Client(` + opts + `)`)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("new backend.Client(%s): want an error about %q, got %v", opts, field, err)
		}
	}
}

func TestReconcileItem(t *testing.T) {
	_, url := startFake(t)
	vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok'});`, url))
	got := vu.run(t, `
		var a = c.reconcileItem('fast', {deadline: '1s', poll: 5});
		var b = c.reconcileItem('late', {deadline: '1s', poll: 5});
		var n = c.reconcileItem('never', {deadline: 20, timeout: 60, poll: 5});
		JSON.stringify([a.reconciled, a.owner, a.latency, a.deadlineMet, b.deadlineMet, n.reconciled, n.owner, n.deadlineMet, n.error.length > 0])`)
	if got != `[true,"controller-1",100,true,false,false,"none",false,true]` {
		t.Fatalf("got %v", got)
	}
	tot := vu.totals()
	want := map[string]float64{
		"backend_item_deadline_missed{owner=controller-1}":   1, // late
		"backend_item_deadline_missed{owner=none}":           1,
		"backend_item_reconcile_latency{owner=controller-1}": 2,
		"backend_items_unreconciled{owner=none}":             1,
	}
	if fmt.Sprint(tot) != fmt.Sprint(want) {
		t.Fatalf("metrics:\n got %v\nwant %v", tot, want)
	}
}

func TestChoosersAreSeededAndReproducible(t *testing.T) {
	seq := func(init, code string) string {
		vu := newTestVU(t, init)
		return fmt.Sprint(vu.run(t, code))
	}
	const draw = `var out = []; for (var i = 0; i < 200; i++) out.push(k.next()); JSON.stringify(out)`
	a := seq(`var k = backend.zipf({n: 50, s: 1.1, seed: 42})`, draw)
	b := seq(`var k = backend.zipf({n: 50, s: 1.1, seed: 42})`, draw)
	c := seq(`var k = backend.zipf({n: 50, s: 1.1, seed: 43})`, draw)
	if a != b {
		t.Fatal("same seed gave different sequences")
	}
	if a == c {
		t.Fatal("different seeds gave the same sequence")
	}
	if p := seq(`var k = backend.uniform({n: 10, seed: 1})`, `k.pick(5) === k.pick(5) && k.pick(5) >= 0 && k.pick(5) < 10`); p != "true" {
		t.Fatal("pick(i) is not stable")
	}
}

func TestChooserDistributions(t *testing.T) {
	vu := newTestVU(t, `var u = backend.uniform({n: 10, seed: 3}); var z = backend.zipf({n: 100, s: 1, seed: 3});`)
	got := vu.run(t, `
		var cu = new Array(10).fill(0), cz = new Array(100).fill(0), N = 20000;
		for (var i = 0; i < N; i++) { cu[u.next()]++; cz[z.next()]++; }
		JSON.stringify({umin: Math.min.apply(null, cu), umax: Math.max.apply(null, cu), z0: cz[0], z1: cz[1], z99: cz[99]})`)
	var d struct{ Umin, Umax, Z0, Z1, Z99 float64 }
	if err := json.Unmarshal([]byte(got.(string)), &d); err != nil {
		t.Fatal(err)
	}
	// Uniform: each bucket near 2000 (binomial sd ≈ 42).
	if d.Umin < 1800 || d.Umax > 2200 {
		t.Errorf("uniform buckets out of range: %+v", d)
	}
	// Zipf s=1 over 100: P(0) = 1/H(100) ≈ 0.193, P(1) ≈ 0.096, P(99) ≈ 0.0019.
	if d.Z0 < 0.17*20000 || d.Z0 > 0.215*20000 || d.Z1 < 0.08*20000 || d.Z1 > 0.115*20000 || d.Z99 > 0.005*20000 {
		t.Errorf("zipf frequencies off: %+v", d)
	}
}

func TestAuthrepManyMatchesSingleCalls(t *testing.T) {
	for _, engine := range []string{"epoll", "goroutines"} {
		for _, mode := range []string{"keep-alive", "close", "chunked"} {
			t.Run(engine+"/"+mode, func(t *testing.T) {
				f, url := startFake(t)
				prefix := "key-"
				switch mode {
				case "close":
					f.closeEach = true
				case "chunked":
					prefix = "chunked"
				}
				vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok'}); var k = backend.uniform({n: 10, seed: 9});`, url))
				if mode == "chunked" {
					vu.run(t, `k = backend.uniform({n: 1, seed: 9})`)
				}
				got := vu.run(t, fmt.Sprintf(`var s = c.authrepMany(300, {keys: k, keyPrefix: %q, usage: {hits: 1}, concurrency: 4, engine: %q}); JSON.stringify([s.count, s.authorized, s.errors, s.firstError])`, prefix, engine))
				if got != `[300,300,0,""]` {
					t.Fatalf("got %v", got)
				}
				if n := len(f.seen()); n != 300 {
					t.Fatalf("server saw %d requests, want 300", n)
				}
				tot := vu.totals()
				if tot["backend_hits_accepted{metric=hits}"] != 300 || tot["backend_call_duration{call=authrep}"] != 300 ||
					tot["backend_results{call=authrep}{outcome=authorized}"] != 300 {
					t.Fatalf("metrics: %v", tot)
				}
			})
		}
	}
}

func TestAuthrepManyAgainstNothingEnds(t *testing.T) {
	for _, engine := range []string{"epoll", "goroutines"} {
		vu := newTestVU(t, `var c = new backend.Client({targets: ['http://127.0.0.1:1'], serviceId: 'svc', serviceToken: 'tok'}); var k = backend.uniform({n: 10});`)
		got := vu.run(t, fmt.Sprintf(`var s = c.authrepMany(50, {keys: k, keyPrefix: 'key-', concurrency: 4, engine: %q}); JSON.stringify([s.count, s.errors, s.firstError.indexOf('127.0.0.1:1') >= 0])`, engine))
		if got != `[50,50,true]` {
			t.Errorf("%s: got %v", engine, got)
		}
		if tot := vu.totals(); tot["backend_results{call=authrep}{outcome=error}"] != 50 {
			t.Errorf("%s: metrics %v", engine, tot)
		}
	}
}

func TestAuthrepManyTimesOut(t *testing.T) {
	for _, engine := range []string{"epoll", "goroutines"} {
		_, url := startFake(t)
		vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok', timeout: 50}); var k = backend.uniform({n: 1});`, url))
		got := vu.run(t, fmt.Sprintf(`var s = c.authrepMany(4, {keys: k, keyPrefix: 'slow', concurrency: 2, engine: %q}); JSON.stringify([s.count, s.errors])`, engine))
		if got != `[4,4]` {
			t.Errorf("%s: got %v", engine, got)
		}
	}
}

func TestCallsInInitContextAreRefused(t *testing.T) {
	_, url := startFake(t)
	rt := modulestest.NewRuntime(t)
	mi := New().NewModuleInstance(rt.VU)
	_ = rt.VU.RuntimeField.Set("backend", mi.Exports().Named)
	_, err := rt.VU.RuntimeField.RunString(fmt.Sprintf(`new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok'}).authrep('key-1')`, url))
	if err == nil || !strings.Contains(err.Error(), "init context") {
		t.Fatalf("want an init-context error, got %v", err)
	}
}

// A batch that ran to its end leaves its connections for the next one; the
// next batch works on them, and after close() on new ones.
func TestAuthrepManyKeepsConnectionsBetweenBatches(t *testing.T) {
	for _, engine := range []string{"epoll", "goroutines"} {
		t.Run(engine, func(t *testing.T) {
			f, url := startFake(t)
			vu := newTestVU(t, fmt.Sprintf(`var c = new backend.Client({targets: [%q], serviceId: 'svc', serviceToken: 'tok'}); var k = backend.uniform({n: 10, seed: 9});`, url))
			got := vu.run(t, fmt.Sprintf(`var out = [];
				for (var i = 0; i < 3; i++) { out.push(c.authrepMany(100, {keys: k, keyPrefix: 'key-', usage: {hits: 1}, concurrency: 4, engine: %q}).authorized); }
				c.close();
				out.push(c.authrepMany(100, {keys: k, keyPrefix: 'key-', usage: {hits: 1}, concurrency: 3, engine: %q}).authorized);
				JSON.stringify(out)`, engine, engine))
			if got != `[100,100,100,100]` {
				t.Fatalf("got %v", got)
			}
			if n := len(f.seen()); n != 400 {
				t.Fatalf("server saw %d requests, want 400", n)
			}
			if tot := vu.totals(); tot["backend_results{call=authrep}{outcome=authorized}"] != 400 {
				t.Fatalf("metrics: %v", tot)
			}
		})
	}
}
