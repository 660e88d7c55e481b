package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
)

// A run that starts and fails (here: an API server that refuses) ends its
// JSON stream with the done event naming its result folder, after the
// error event; nothing else is written.
func TestOutputJSONRunError(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600)
	code, out, errOut := cli("run", "--output", "json", "--repo", "../..", "--results", filepath.Join(dir, "results"), "--k6", "/bin/true",
		"--provider", "kubeconfig", "--kubeconfig", kc, "--prometheus-url", "http://127.0.0.1:1", smokeFile)
	if code != exitHarness || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	evs := jsonEvents(t, errOut)
	last := evs[len(evs)-1]
	folder, _ := last["results"].(string)
	if last["event"] != "done" || last["verdict"] != "error" || last["exitCode"] != float64(exitHarness) || !strings.HasPrefix(folder, filepath.Join(dir, "results", "smoke-")) {
		t.Errorf("done event: %v", last)
	}
	if _, err := os.Stat(filepath.Join(folder, result.ResultFile)); err != nil {
		t.Errorf("the done event's folder: %v", err)
	}
	if prev := evs[len(evs)-2]; prev["event"] != "error" || !strings.Contains(prev["message"].(string), "reaching the API server") {
		t.Errorf("error event: %v", prev)
	}
}

// The done event carries each assertion's outcome; values JSON cannot
// hold as numbers are strings, a missing one null.
func TestDoneEvent(t *testing.T) {
	v, nan, inf := 301.5, math.NaN(), math.Inf(1)
	res := &result.Run{Assertions: []assertions.Result{
		{Name: "throughput", Kind: "throughput", Op: ">=", Bound: 150, Value: &v, Status: assertions.Pass},
		{Name: "ratio", Kind: "query", Op: "<", Bound: 1, Value: &nan, Status: assertions.Fail},
		{Name: "latency", Kind: "objectLatency", Op: "<=", Bound: inf, Status: assertions.Error, Error: "no objects"},
	}}
	var b bytes.Buffer
	emitDone(&b, done{ExitCode: exitAssertion, Results: "results/x", Assertions: outcomes(res)})
	got := b.String()
	for _, want := range []string{`"event":"done"`, `"verdict":"fail"`, `"exitCode":3`, `"results":"results/x"`,
		`{"name":"throughput","kind":"throughput","status":"pass","value":301.5,"op":"\u003e=","bound":150}`,
		`"value":"NaN"`, `"bound":"+Inf"`, `"value":null`, `"error":"no objects"`} {
		if !strings.Contains(got, want) {
			t.Errorf("done event lacks %s:\n%s", want, got)
		}
	}
}
