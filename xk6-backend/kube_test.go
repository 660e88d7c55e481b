package backend

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/sobek"
	"go.k6.io/k6/js/modulestest"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"
)

// fakeAPIServer answers as kube-apiserver does for what kube.go asks:
// discovery of tekton.dev/v1 and v1, and creates of TaskRuns (namespaced)
// and Namespaces (cluster-scoped). An object without spec is 422 Invalid, a
// name seen before 409 AlreadyExists; the label fake/answer asks for another
// answer (403, 500, 429, slow).
type fakeAPIServer struct {
	mu        sync.Mutex
	objects   map[string]map[string]any // path + name -> object
	discovery int
	posts     []string // request URIs
}

const fakeToken = "fake-token"

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+fakeToken {
		status(w, 401, "Unauthorized", "Unauthorized")
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/apis/tekton.dev/v1":
		f.mu.Lock()
		f.discovery++
		f.mu.Unlock()
		fmt.Fprint(w, `{"kind":"APIResourceList","groupVersion":"tekton.dev/v1","resources":[
			{"name":"taskruns/status","namespaced":true,"kind":"TaskRun"},
			{"name":"taskruns","singularName":"taskrun","namespaced":true,"kind":"TaskRun","verbs":["create","get","list"]}]}`)
	case r.Method == "GET" && r.URL.Path == "/api/v1":
		fmt.Fprint(w, `{"kind":"APIResourceList","groupVersion":"v1","resources":[
			{"name":"namespaces","namespaced":false,"kind":"Namespace"},
			{"name":"configmaps","namespaced":true,"kind":"ConfigMap"}]}`)
	case r.Method == "POST":
		f.create(w, r)
	default:
		status(w, 404, "NotFound", "the server could not find the requested resource")
	}
}

func (f *fakeAPIServer) create(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.posts = append(f.posts, r.URL.RequestURI())
	f.mu.Unlock()
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		status(w, 400, "BadRequest", "decoding: "+err.Error())
		return
	}
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	labels, _ := md["labels"].(map[string]any)
	switch labels["fake/answer"] {
	case "403":
		status(w, 403, "Forbidden", `taskruns.tekton.dev is forbidden: User "x" cannot create resource`)
		return
	case "500":
		status(w, 500, "InternalError", "Internal error occurred: etcd")
		return
	case "429":
		status(w, 429, "TooManyRequests", "too many requests")
		return
	case "slow":
		time.Sleep(500 * time.Millisecond)
	}
	if obj["kind"] == "TaskRun" && obj["spec"] == nil {
		status(w, 422, "Invalid", fmt.Sprintf(`TaskRun.tekton.dev %q is invalid: spec: Required value`, name))
		return
	}
	key := r.URL.Path + "/" + name
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.objects[key]; ok {
		status(w, 409, "AlreadyExists", fmt.Sprintf(`taskruns.tekton.dev %q already exists`, name))
		return
	}
	if r.URL.Query().Get("dryRun") != "All" {
		f.objects[key] = obj
	}
	w.WriteHeader(201)
	_, _ = w.Write(body)
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"message": msg, "reason": reason, "code": code})
}

func (f *fakeAPIServer) stored() map[string]map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]map[string]any{}
	for k, v := range f.objects {
		out[k] = v
	}
	return out
}

// startFakeAPIServer serves the fake over TLS with HTTP/2, as the real one
// does, and writes a kubeconfig for it (token, insecure-skip-tls-verify,
// context namespace ctx-ns).
func startFakeAPIServer(t testing.TB) (*fakeAPIServer, string) {
	t.Helper()
	f := &fakeAPIServer{objects: map[string]map[string]any{}}
	srv := httptest.NewUnstartedServer(f)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return f, writeKubeconfig(t, srv.URL, fakeToken)
}

func writeKubeconfig(t testing.TB, server, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: test
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: test, namespace: ctx-ns}
current-context: test
`, server, token)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newKubeVU is newTestVU with __ENV (TESTID) set before the init code runs.
func newKubeVU(t testing.TB, env map[string]string, init string) *testVU {
	t.Helper()
	rt := modulestest.NewRuntime(t)
	rt.VU.InitEnvField.RuntimeOptions.Env = env
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
		Samples: samples,
		Tags:    lib.NewVUStateTags(registry.RootTagSet().With("scenario", "test")),
	})
	return &testVU{rt: rt, samples: samples}
}

// kubeTotals sums the kube samples per metric and tags kind, outcome, reason.
func (v *testVU) kubeTotals() map[string]float64 {
	out := map[string]float64{}
	for _, sc := range metrics.GetBufferedSamples(v.samples) {
		for _, s := range sc.GetSamples() {
			key := s.Metric.Name
			tags := s.Tags.Map()
			for _, k := range []string{"kind", "outcome", "reason"} {
				if tv, ok := tags[k]; ok {
					key += "{" + k + "=" + tv + "}"
				}
			}
			if tags["scenario"] != "test" {
				key += "{scenario missing}"
			}
			if s.Metric.Type == metrics.Trend {
				out[key]++
			} else {
				out[key] += s.Value
			}
		}
	}
	return out
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func TestKubeNamesAreUniqueAndValid(t *testing.T) {
	s := &kubeShared{token: nameToken()}
	const goroutines, each = 8, 5000
	names := make(chan string, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				names <- string(s.appendName(nil, "tr-"))
			}
		})
	}
	wg.Wait()
	close(names)
	seen := map[string]bool{}
	for n := range names {
		if seen[n] {
			t.Fatalf("name %s made twice", n)
		}
		seen[n] = true
		if !dns1123.MatchString(n) || len(n) > 63 || dns1123Subdomain(n) != nil {
			t.Fatalf("name %q is not a valid DNS-1123 label", n)
		}
	}
	if len(seen) != goroutines*each {
		t.Fatalf("%d names, want %d", len(seen), goroutines*each)
	}
	// The largest counter still makes a valid name of the announced length.
	s.seq.Store(^uint64(0) - 1)
	if n := string(s.appendName(nil, "")); len(n) != maxNameSuffix || !dns1123.MatchString(n) {
		t.Fatalf("name at the counter's end: %q (%d chars, want %d)", n, len(n), maxNameSuffix)
	}
	// Two processes draw different tokens (36^5 of them).
	if a, b := nameToken(), nameToken(); a == b || !regexp.MustCompile(`^[a-z0-9]{5}$`).MatchString(a) {
		t.Fatalf("tokens %q and %q", a, b)
	}
}

func TestKubeNamePrefixIsChecked(t *testing.T) {
	for prefix, ok := range map[string]bool{
		"": true, "tr-": true, "tr": true, "a.b.": true, "load.tr-": true,
		"TR-": false, "-tr": false, "tr_": false, "a..b": false, ".a": false, "a.-": false,
		strings.Repeat("a", 253-maxNameSuffix): true, strings.Repeat("a", 254-maxNameSuffix): false,
	} {
		if err := checkNamePrefix(prefix); (err == nil) != ok {
			t.Errorf("checkNamePrefix(%q) = %v, want ok=%v", prefix, err, ok)
		}
	}
}

func TestKubeStatusClassification(t *testing.T) {
	st := func(code int, reason string) []byte {
		return fmt.Appendf(nil, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"msg %d","reason":%q,"code":%d}`, code, reason, code)
	}
	for _, c := range []struct {
		code            int
		body            []byte
		outcome, reason string
		ok              bool
	}{
		{201, []byte(`{"kind":"TaskRun"}`), KubeCreated, "", true},
		{200, nil, KubeCreated, "", true},
		{202, nil, KubeCreated, "", true},
		{422, st(422, "Invalid"), KubeRejected, "Invalid", false},
		{409, st(409, "AlreadyExists"), KubeRejected, "AlreadyExists", false},
		{403, st(403, "Forbidden"), KubeRejected, "Forbidden", false},
		{404, st(404, "NotFound"), KubeRejected, "NotFound", false},
		{400, []byte("not json"), KubeRejected, "400", false},
		{429, st(429, "TooManyRequests"), KubeFailed, "TooManyRequests", false},
		{408, nil, KubeFailed, "408", false},
		{500, st(500, "InternalError"), KubeFailed, "InternalError", false},
		{503, []byte("<html>bad gateway</html>"), KubeFailed, "503", false},
		{504, st(504, "Timeout"), KubeFailed, "Timeout", false},
	} {
		r := classifyStatus(c.code, c.body)
		if r.Outcome != c.outcome || r.Reason != c.reason || r.OK != c.ok || r.Status != c.code {
			t.Errorf("%d %s: got outcome %s reason %s ok %v", c.code, c.body, r.Outcome, r.Reason, r.OK)
		}
		if !c.ok && r.Error == "" {
			t.Errorf("%d: no error text", c.code)
		}
		if !c.ok && strings.HasPrefix(string(c.body), `{"kind":"Status"`) && r.Error != fmt.Sprintf("msg %d", c.code) {
			t.Errorf("%d: error %q, want the Status message", c.code, r.Error)
		}
	}
}

func TestKubeTemplateEncoding(t *testing.T) {
	tmpl, err := newKubeTemplate(map[string]any{
		"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"name": "dropped", "generateName": "gen-", "namespace": "other",
			"labels": map[string]any{"app": "x"}, "annotations": map[string]any{"a": "b"}},
		"spec": map[string]any{"serviceAccountName": "default", "taskSpec": map[string]any{
			"steps": []any{map[string]any{"name": "s", "image": "perfrun/tekton-step:v1", "script": "true && echo <ok>"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.namePrefix != "gen-" {
		t.Fatalf("namePrefix %q: want generateName", tmpl.namePrefix)
	}
	prefix, suffix, err := encodeTemplate(tmpl.metadata, tmpl.rest, "ns1", map[string]string{TestIDLabel: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	body := string(prefix) + "gen-abc-1" + string(suffix)
	if strings.Contains(body, `\u0026`) || !strings.Contains(body, `true && echo <ok>`) {
		t.Errorf("the script is escaped: %s", body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	want := `{"apiVersion":"tekton.dev/v1","kind":"TaskRun","metadata":{"annotations":{"a":"b"},"labels":{"app":"x","perfrun.dev/testid":"t1"},"name":"gen-abc-1","namespace":"ns1"},"spec":{"serviceAccountName":"default","taskSpec":{"steps":[{"image":"perfrun/tekton-step:v1","name":"s","script":"true && echo <ok>"}]}}}`
	if b, _ := marshalJSON(got); string(b) != want {
		t.Errorf("decoded body:\n got %s\nwant %s", b, want)
	}

	// Cluster-scoped, no metadata, no labels: only the name in metadata.
	ns, err := newKubeTemplate(map[string]any{"apiVersion": "v1", "kind": "Namespace"})
	if err != nil {
		t.Fatal(err)
	}
	prefix, suffix, _ = encodeTemplate(ns.metadata, ns.rest, "", nil)
	if body := string(prefix) + "n-1" + string(suffix); body != `{"metadata":{"name":"n-1"},"apiVersion":"v1","kind":"Namespace"}` {
		t.Errorf("namespace body: %s", body)
	}
	if ns.namePrefix != "namespace-" {
		t.Errorf("default namePrefix %q", ns.namePrefix)
	}

	for _, bad := range []map[string]any{
		{"kind": "TaskRun"},
		{"apiVersion": "tekton.dev/v1"},
		{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": "x"},
		{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": map[string]any{"labels": "x"}},
		{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": map[string]any{"generateName": "Bad_"}},
	} {
		if _, err := newKubeTemplate(bad); err == nil {
			t.Errorf("template %v: no error", bad)
		}
	}
}

const taskRunJS = `{apiVersion: 'tekton.dev/v1', kind: 'TaskRun',
	metadata: {labels: {app: 'load'}},
	spec: {serviceAccountName: 'default', taskSpec: {steps: [{name: 'run', image: 'perfrun/tekton-step:v1', script: 'echo hi'}]}}}`

func TestKubeCreateAgainstAFakeAPIServer(t *testing.T) {
	f, kc := startFakeAPIServer(t)
	vu := newKubeVU(t, map[string]string{"TESTID": "run-1"}, fmt.Sprintf(`
		var kube = backend.kube({kubeconfig: %q, namespace: 'perf'});
		var tmpl = kube.template(%s);
		var obj = %s;`, kc, taskRunJS, taskRunJS))

	got := vu.run(t, `
		var out = {names: [], outcomes: []};
		for (var i = 0; i < 5; i++) {
			var r = kube.create(tmpl, {namePrefix: 'tr-'});
			out.names.push(r.name); out.outcomes.push(r.outcome + ' ' + r.status + ' ' + r.ok);
		}
		var p = kube.create(obj);  // a plain object, encoded for this call
		out.plain = [p.outcome, p.name.indexOf('taskrun-') === 0, p.duration > 0];
		var bad = kube.create({apiVersion: 'tekton.dev/v1', kind: 'TaskRun'}, {namePrefix: 'bad-'});
		out.bad = [bad.ok, bad.outcome, bad.status, bad.reason, bad.error];
		var forbid = kube.create({apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: {labels: {'fake/answer': '403'}}, spec: {}});
		out.forbid = [forbid.outcome, forbid.reason];
		var ise = kube.create({apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: {labels: {'fake/answer': '500'}}, spec: {}});
		out.ise = [ise.outcome, ise.reason, ise.error];
		var busy = kube.create({apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: {labels: {'fake/answer': '429'}}, spec: {}});
		out.busy = [busy.outcome, busy.reason];
		var v = kube.validate(tmpl);
		var d = kube.create(tmpl, {dryRun: true});
		var vbad = kube.validate({apiVersion: 'tekton.dev/v1', kind: 'TaskRun'});
		out.dry = [v.ok, v.outcome, v.dryRun, d.outcome, vbad.ok, vbad.outcome, vbad.error];
		var nokind = kube.create({apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', spec: {}});
		var nogroup = kube.create({apiVersion: 'nope.dev/v1', kind: 'Thing', spec: {}});
		out.unknown = [nokind.outcome, nokind.reason, nogroup.outcome, nogroup.status, nogroup.error];
		var ns = kube.create({apiVersion: 'v1', kind: 'Namespace'}, {namePrefix: 'ns-'});
		out.ns = [ns.outcome, ns.name.indexOf('ns-') === 0];
		out.namespace = kube.namespace;
		JSON.stringify(out);
	`)
	var out struct {
		Names     []string
		Outcomes  []string
		Plain     []any
		Bad       []any
		Forbid    []string
		Ise       []string
		Busy      []string
		Dry       []any
		Unknown   []any
		NS        []any
		Namespace string
	}
	if err := json.Unmarshal([]byte(got.(string)), &out); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, n := range out.Names {
		if !strings.HasPrefix(n, "tr-") || seen[n] || !dns1123.MatchString(n) {
			t.Errorf("name %q (repeated %v)", n, seen[n])
		}
		seen[n] = true
		if out.Outcomes[i] != "created 201 true" {
			t.Errorf("create %d: %s", i, out.Outcomes[i])
		}
	}
	check := func(what string, got any, want string) {
		t.Helper()
		if b, _ := json.Marshal(got); string(b) != want {
			t.Errorf("%s:\n got %s\nwant %s", what, b, want)
		}
	}
	check("plain object", out.Plain, `["created",true,true]`)
	check("invalid", out.Bad[:4], `[false,"rejected",422,"Invalid"]`)
	if msg, _ := out.Bad[4].(string); !strings.Contains(msg, "spec: Required value") {
		t.Errorf("invalid: error %q, want the API server's message", msg)
	}
	check("forbidden", out.Forbid, `["rejected","Forbidden"]`)
	check("5xx", out.Ise, `["failed","InternalError","Internal error occurred: etcd"]`)
	check("429", out.Busy, `["failed","TooManyRequests"]`)
	check("dry run", out.Dry[:6], `[true,"valid",true,"valid",false,"rejected"]`)
	if msg, _ := out.Dry[6].(string); !strings.Contains(msg, "spec: Required value") {
		t.Errorf("validate: error %q, want the API server's message", msg)
	}
	check("unknown kinds", out.Unknown[:4], `["rejected","NotFound","rejected",404]`)
	check("cluster-scoped", out.NS, `["created",true]`)
	if out.Namespace != "perf" {
		t.Errorf("namespace %q", out.Namespace)
	}

	// What the server holds: the 5 + 1 TaskRuns in perf with the labels, and
	// the namespace at the cluster-scoped path; nothing from the dry runs.
	objs := f.stored()
	taskRuns := 0
	for key, o := range objs {
		if !strings.HasPrefix(key, "/apis/tekton.dev/v1/namespaces/perf/taskruns/") {
			if !strings.HasPrefix(key, "/api/v1/namespaces/ns-") {
				t.Errorf("object at %s", key)
			}
			if md := o["metadata"].(map[string]any); md["namespace"] != nil {
				t.Errorf("cluster-scoped object with a namespace: %v", md)
			}
			continue
		}
		taskRuns++
		md := o["metadata"].(map[string]any)
		labels := md["labels"].(map[string]any)
		if md["namespace"] != "perf" || labels[TestIDLabel] != "run-1" || labels["app"] != "load" {
			t.Errorf("%s: metadata %v", key, md)
		}
	}
	if taskRuns != 6 || len(objs) != 7 {
		t.Errorf("server holds %d TaskRuns and %d objects; want 6 and 7: %v", taskRuns, len(objs), objs)
	}
	// Once for TaskRun (all the creates after it use what it found), once
	// more for PipelineRun, which that answer did not have.
	if f.discovery != 2 {
		t.Errorf("discovery of tekton.dev/v1 asked %d times, want 2", f.discovery)
	}

	tot := vu.kubeTotals()
	want := map[string]float64{
		"backend_kube_objects_created{kind=TaskRun}":                        6,
		"backend_kube_objects_created{kind=Namespace}":                      1,
		"backend_kube_objects_rejected{kind=TaskRun}{reason=Invalid}":       1,
		"backend_kube_objects_rejected{kind=TaskRun}{reason=Forbidden}":     1,
		"backend_kube_objects_rejected{kind=PipelineRun}{reason=NotFound}":  1,
		"backend_kube_objects_rejected{kind=Thing}{reason=NotFound}":        1,
		"backend_kube_objects_failed{kind=TaskRun}{reason=InternalError}":   1,
		"backend_kube_objects_failed{kind=TaskRun}{reason=TooManyRequests}": 1,
		"backend_kube_create_duration{kind=TaskRun}{outcome=created}":       6,
		"backend_kube_create_duration{kind=Namespace}{outcome=created}":     1,
		"backend_kube_create_duration{kind=TaskRun}{outcome=rejected}":      2,
		"backend_kube_create_duration{kind=PipelineRun}{outcome=rejected}":  1,
		"backend_kube_create_duration{kind=Thing}{outcome=rejected}":        1,
		"backend_kube_create_duration{kind=TaskRun}{outcome=failed}":        2,
	}
	if fmt.Sprint(tot) != fmt.Sprint(want) {
		t.Errorf("metrics (dry runs count nowhere):\n got %v\nwant %v", tot, want)
	}
}

func TestKubeFailuresAreResults(t *testing.T) {
	_, kc := startFakeAPIServer(t)
	dead := writeKubeconfig(t, "https://127.0.0.1:1", fakeToken)
	vu := newKubeVU(t, nil, fmt.Sprintf(`
		var kube = backend.kube({kubeconfig: %q, timeout: '100ms'});
		var dead = backend.kube({kubeconfig: %q});`, kc, dead))
	got := vu.run(t, `
		var slow = kube.create({apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: {labels: {'fake/answer': 'slow'}}, spec: {}});
		var d = dead.create({apiVersion: 'tekton.dev/v1', kind: 'TaskRun', spec: {}});
		JSON.stringify([kube.namespace, slow.outcome, slow.reason, d.outcome, d.reason, d.error.length > 0]);
	`)
	if want := `["ctx-ns","failed","timeout","failed","transport",true]`; got != want {
		t.Fatalf("got %v\nwant %s", got, want)
	}
	tot := vu.kubeTotals()
	if tot["backend_kube_objects_failed{kind=TaskRun}{reason=timeout}"] != 1 || tot["backend_kube_objects_failed{kind=TaskRun}{reason=transport}"] != 1 {
		t.Errorf("metrics: %v", tot)
	}
}

func TestKubeScriptErrorsThrow(t *testing.T) {
	_, kc := startFakeAPIServer(t)
	for _, c := range []struct{ init, run, want string }{
		{`backend.kube({kubeconfig: '/no/such/kubeconfig'})`, ``, `/no/such/kubeconfig`},
		{fmt.Sprintf(`backend.kube({kubeconfig: %q, namespace: 'Bad_NS'})`, kc), ``, `namespace "Bad_NS"`},
		{fmt.Sprintf(`backend.kube({kubeconfig: %q, timeout: 'soon'})`, kc), ``, `timeout`},
		{fmt.Sprintf(`var k = backend.kube({kubeconfig: %q}); k.create({apiVersion: 'v1', kind: 'ConfigMap'})`, kc), ``, `not the init context`},
		{fmt.Sprintf(`var k = backend.kube({kubeconfig: %q}); k.template({kind: 'TaskRun'})`, kc), ``, `apiVersion and kind`},
		{fmt.Sprintf(`var k = backend.kube({kubeconfig: %q})`, kc), `k.create({apiVersion: 'v1', kind: 'ConfigMap'}, {namePrefix: 'Upper-'})`, `namePrefix "Upper-"`},
		{fmt.Sprintf(`var k = backend.kube({kubeconfig: %q})`, kc), `k.create('x')`, `want an object manifest`},
	} {
		rt := modulestest.NewRuntime(t)
		mi := New().NewModuleInstance(rt.VU)
		if err := rt.VU.RuntimeField.Set("backend", mi.Exports().Named); err != nil {
			t.Fatal(err)
		}
		_, err := rt.VU.RuntimeField.RunString(c.init)
		if c.run != "" {
			if err != nil {
				t.Fatalf("%s: %v", c.init, err)
			}
			rt.MoveToVUContext(&lib.State{Samples: make(chan metrics.SampleContainer, 10),
				Tags: lib.NewVUStateTags(metrics.NewRegistry().RootTagSet())})
			_, err = rt.VU.RuntimeField.RunString(c.run)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: error %v, want one with %q", c.init, c.run, err, c.want)
		}
	}
}

// BenchmarkKubeCreate is the client's cost per object against the fake
// (which stores nothing here: dry runs), both ends in this process.
func BenchmarkKubeCreate(b *testing.B) {
	_, kc := startFakeAPIServer(b)
	vu := newKubeVU(b, nil, fmt.Sprintf(`var kube = backend.kube({kubeconfig: %q, namespace: 'perf'}); var tmpl = kube.template(%s);`, kc, taskRunJS))
	fn, err := vu.rt.VU.RuntimeField.RunString(`(function () { return kube.create(tmpl, {namePrefix: 'tr-', dryRun: true}).ok; })`)
	if err != nil {
		b.Fatal(err)
	}
	call, ok := sobek.AssertFunction(fn)
	if !ok {
		b.Fatal("not a function")
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := call(sobek.Undefined()); err != nil || !ok.ToBoolean() {
			b.Fatal(ok, err)
		}
	}
}
