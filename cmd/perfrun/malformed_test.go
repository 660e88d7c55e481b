package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const smokeFile = "../../suites/scenarios/smoke.yaml"

// cli runs perfrun's real entry (realMain) and returns the exit code and
// what it wrote.
func cli(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = realMain(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestMalformedInputs feeds perfrun run (and the other commands' argument
// checks) input that is wrong in every way issue 18 lists, through the
// CLI's real entry: each gets its exit code, a message, and names the
// field or flag at fault. Every run row is run again with --output json,
// where the error must be an error event naming the same field and the
// stream must end with the done event carrying the exit code.
func TestMalformedInputs(t *testing.T) {
	dir := t.TempDir()
	smoke, err := os.ReadFile(smokeFile)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	// file writes smoke.yaml with old replaced by new (each must occur).
	file := func(pairs ...string) string {
		t.Helper()
		src := string(smoke)
		for i := 0; i+1 < len(pairs); i += 2 {
			if !strings.Contains(src, pairs[i]) {
				t.Fatalf("smoke.yaml has no %q", pairs[i])
			}
			src = strings.Replace(src, pairs[i], pairs[i+1], 1)
		}
		n++
		p := filepath.Join(dir, fmt.Sprintf("s%d.yaml", n))
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := func(content string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("r%d.yaml", n))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var bomb strings.Builder
	bomb.WriteString("spec:\n  chaos:\n    - &A {name: n, at: 1s, upgrade: {components: {c0: &C {args: &L [a" + strings.Repeat(", a", 299) + "]}")
	for i := 1; i < 300; i++ {
		fmt.Fprintf(&bomb, ", c%d: *C", i)
	}
	bomb.WriteString("}}}\n" + strings.Repeat("    - *A\n", 299))

	const throughput = "throughput: {floor: ${FLOOR:-150}, skip: 10s}"
	const query = `query: sum(increase(apisonator_listener_response_codes{namespace="{{.namespace}}",resp_code="5xx"}[{{.duration}}] @ {{.end}})) or vector(0)`
	const drain = `query: sum(max by (format) (apisonator_worker_queue_depth{namespace="{{.namespace}}"}))`
	const kill = "podKill: {component: worker, count: 1}"

	// validate is perfrun run --validate, which needs no k6.
	validate := func(extra ...string) []string {
		return append([]string{"run", "--validate", "--repo", "../..", "--k6", "/nonexistent/k6"}, extra...)
	}
	cases := []struct {
		name  string
		args  []string
		code  int
		msg   string // a part of the message
		field string // the field or flag it names ("" for none)
	}{
		// Arguments and flags.
		{"no scenario", []string{"run"}, 2, "accepts 1 arg(s), received 0", ""},
		{"two scenarios", []string{"run", smokeFile, smokeFile}, 2, "accepts 1 arg(s), received 2", ""},
		{"unknown command", []string{"rnu", smokeFile}, 2, `unknown command "rnu" for "perfrun"`, ""},
		{"unknown cluster command", []string{"cluster", "upp"}, 2, `unknown command "upp" for "perfrun cluster"`, ""},
		{"report without folder", []string{"report"}, 2, "accepts 1 arg(s), received 0", ""},
		{"cluster up with an argument", []string{"cluster", "up", "now"}, 2, `unknown command "now" for "perfrun cluster up"`, ""},
		{"unknown flag", validate("--bogus", smokeFile), 2, "unknown flag: --bogus", "--bogus"},
		{"flag without value", validate(smokeFile, "--set"), 2, "flag needs an argument", "--set"},
		{"output", validate("--output", "xml", smokeFile), 2, `--output "xml": want human, quiet or json`, "--output"},
		{"set without =", validate("--set", "RATE", smokeFile), 2, `--set: "RATE" is not NAME=VALUE`, "--set"},
		{"set twice", validate("--set", "RATE=1", "--set", "RATE=2", smokeFile), 2, "--set RATE: given twice", "--set RATE"},
		{"set unused", validate("--set", "RAET=500", smokeFile), 2, "the scenario has no ${RAET} to set", "--set RAET"},
		// --set values: typed, and never YAML.
		{"set numeric default", validate("--set", "RATE=abc", smokeFile), 2, `--set RATE="abc": ${RATE:-200} has a numeric default`, "spec.load.env.RATE"},
		{"set number field", validate("--set", "FLOOR=abc", file(throughput, "throughput: {floor: ${FLOOR}, skip: 10s}")), 2, `want a number, got "abc"`, "spec.assertions[0].throughput.floor"},
		{"set YAML into a number", validate("--set", "FLOOR=[1, 2]", file(throughput, "throughput: {floor: ${FLOOR}, skip: 10s}")), 2, `want a number, got "[1, 2]"`, "spec.assertions[0].throughput.floor"},
		{"set YAML into a count", validate("--set", "N=1, ordinal: 2", file(kill, "podKill: {component: worker, count: ${N}}")), 2, `want an integer, got "1, ordinal: 2"`, "spec.chaos[0].podKill.count"},
		{"set newline injection", validate("--set", "RATE=200\"\n  assertions: []\n#", smokeFile), 2, "has a numeric default", "spec.load.env.RATE"},
		{"set injection into a string", validate("--set", "DESC=x\nspec: {}\nkind: Other", file("description: v2 system", "description: ${DESC:-v2 system}")), 0, "valid", ""},
		{"set no default", validate(file(throughput, "throughput: {floor: ${FLOOR}, skip: 10s}")), 2, "scenario variable FLOOR not set and without default", "spec.assertions[0].throughput.floor"},
		{"variable in a key", validate(file("APPS:", "${KEY:-APPS}:")), 2, "may only be a value, not a key", "spec.load.env.${KEY:-APPS}"},
		// The file.
		{"dev zero", validate("/dev/zero"), 2, "larger than 1048576 bytes", ""},
		{"missing file", validate("/nonexistent/scenario.yaml"), 2, "reading scenario: open /nonexistent/scenario.yaml", ""},
		{"a directory", validate(dir), 2, "reading scenario", ""},
		{"empty file", validate(raw("")), 2, "the file is empty", ""},
		{"binary", validate(raw("\x00\x01\x02\xff\xfe")), 2, "parsing scenario YAML", ""},
		{"YAML syntax", validate(file("  load:\n", "  load: [\n")), 2, "parsing scenario YAML", ""},
		{"two documents", validate(raw(string(smoke) + "---\n" + string(smoke))), 2, "more than one document", ""},
		{"a scalar", validate(raw("hello\n")), 2, "want a mapping", "(document)"},
		{"alias bomb", validate(raw(bomb.String())), 2, "YAML nodes once aliases are expanded", "(document)"},
		{"api version", validate(file("perfrun/v1", "perfrun/v2")), 2, `want "perfrun/v1", got "perfrun/v2"`, "apiVersion"},
		{"unknown field", validate(file("duration: 40s", "duration: 40s\n    bogus: 1")), 2, "unknown field", "spec.load.bogus"},
		{"duration", validate(file("duration: 40s", "duration: forty")), 2, `want a duration such as 30s or 2m, got "forty"`, "spec.load.duration"},
		{"quoted number", validate(file(throughput, `throughput: {floor: "150", skip: 10s}`)), 2, `want a number, got "150" (unquoted)`, "spec.assertions[0].throughput.floor"},
		// PromQL, parsed by Prometheus's parser after templates expand.
		{"query PromQL", validate(file(query, "query: sum(rate(x[[5m]))")), 2, "not valid PromQL", "spec.assertions[2].query"},
		{"query PromQL after template", validate(file(query, "query: x{namespace={{.namespace}}}")), 2, "not valid PromQL", "spec.assertions[2].query"},
		{"query template", validate(file(query, "query: x{namespace=\"{{.nmespace}}\"}")), 2, "expanding template", "spec.assertions[2].query"},
		{"query unknown chaos", validate(file(query, "query: x @ {{.chaos.kill.start}}")), 2, "expanding template", "spec.assertions[2].query"},
		{"drain PromQL", validate(file(drain, "query: sum(max by (format) (queue_depth)")), 2, "not valid PromQL", "spec.drain.query"},
		{"drain template", validate(file(drain, "query: sum(queue{{.end}")), 2, "parsing template", "spec.drain.query"},
		{"throughput selector", validate(file(throughput, "throughput: {floor: 1, selector: 'rate(x[1m])'}")), 2, "must be a series selector", "spec.assertions[0].throughput.selector"},
		{"metric contract selector", validate(file("    readyTimeout: 2m\n", "    readyTimeout: 2m\n    metrics: {served: 'sum(x)'}\n")), 2, "must be a series selector", "spec.system.metrics.served"},
		{"metric contract name", validate(file("    readyTimeout: 2m\n", "    readyTimeout: 2m\n    metrics: {latency: 'x{a=\"b\"}'}\n")), 2, "must be a metric name", "spec.system.metrics.latency"},
		{"evenDistribution by", validate(file("  assertions:\n", "  assertions:\n    - name: even\n      evenDistribution: {max: 1.5, by: 'pod)'}\n")), 2, "must be label names", "spec.assertions[0].evenDistribution.by"},
		{"coreUtilization min", validate(file("  assertions:\n", "  assertions:\n    - name: cores\n      coreUtilization: {components: [listener], min: 90}\n")), 2, "must be in (0, 1]", "spec.assertions[0].coreUtilization.min"},
		{"coreUtilization skip", validate(file("  assertions:\n", "  assertions:\n    - name: cores\n      coreUtilization: {components: [listener], min: 0.9, skip: 5m}\n")), 2, "must be shorter than the load", "spec.assertions[0].coreUtilization.skip"},
		{"coreUtilization component", validate(file("  assertions:\n", "  assertions:\n    - name: cores\n      coreUtilization: {components: [listener, wrker], min: 0.9}\n")), 2, `no Deployment or StatefulSet "wrker" in the overlay`, "spec.assertions[0].coreUtilization.components[1]"},
		{"exclusiveOwnership max", validate(file("  assertions:\n", "  assertions:\n    - name: one-owner\n      exclusiveOwnership: {max: -1}\n")), 2, "must be ≥ 0", "spec.assertions[0].exclusiveOwnership.max"},
		{"exclusiveOwnership field", validate(file("  assertions:\n", "  assertions:\n    - name: one-owner\n      exclusiveOwnership: {maxKeys: 0}\n")), 2, "unknown field (known: max)", "spec.assertions[0].exclusiveOwnership.maxKeys"},
		{"metric contract sharedItems", validate(file("    readyTimeout: 2m\n", "    readyTimeout: 2m\n    metrics: {sharedItems: 'max(x)'}\n")), 2, "must be a series selector", "spec.system.metrics.sharedItems"},
		// Chaos against the replicas the run has.
		{"podKill count", validate(file(kill, "podKill: {component: worker, count: 5}")), 2, "asks for 5 pods of worker, which has at most 2 replicas", "spec.chaos[0].podKill.count"},
		{"podKill ordinal of a Deployment", validate(file(kill, "podKill: {component: worker, ordinal: 0}")), 2, "worker is a Deployment, whose pods have no ordinals", "spec.chaos[0].podKill.ordinal"},
		{"podKill ordinal beyond replicas", validate(file(kill, "podKill: {component: controller, ordinal: 3}")), 2, "no pod controller-3", "spec.chaos[0].podKill.ordinal"},
		{"podKill component", validate(file(kill, "podKill: {component: wrker}")), 2, `no workload "wrker" in the overlay`, "spec.chaos[0].podKill.component"},
		{"podKill percent", validate(file(kill, "podKill: {component: worker, percent: 0}")), 2, "must be 1..100, got 0", "spec.chaos[0].podKill.percent"},
		{"chaos after the load", validate(file("at: 15s", "at: 50s")), 2, "must be before the load ends", "spec.chaos[0].at"},
		// What the repository must have.
		{"overlay", validate(file("overlays/v2", "overlays/v9")), 2, "", "spec.system.overlay"},
		{"load script", validate(file("throughput.js", "nothing.js")), 2, "no such file", "spec.load.script"},
		// The provider and its flags, checked by --validate too.
		{"provider", validate("--provider", "bogus", smokeFile), 2, `"bogus" is not a provider`, "--provider"},
		{"kubeconfig required", validate("--provider", "kubeconfig", "--prometheus-url", "http://127.0.0.1:9090", smokeFile), 2, "required by provider kubeconfig", "--kubeconfig"},
		{"kubeconfig missing", validate("--provider", "kubeconfig", "--kubeconfig", "/nonexistent/kc", "--prometheus-url", "http://x", smokeFile), 2, "stat /nonexistent/kc", "--kubeconfig"},
		{"kind config", validate("--provider", "kind", "--kind-config", "/nonexistent/kind.yaml", smokeFile), 2, "", "--kind-config"},
		// k6: not needed to validate, needed to run (and still nothing deployed).
		{"validate without k6", validate(smokeFile), 0, "valid", ""},
		{"run without k6", []string{"run", "--repo", "../..", "--results", filepath.Join(dir, "results"), "--k6", "/nonexistent/k6", smokeFile}, 2, "build it with make k6", "--k6"},
	}
	if len(cases) < 40 {
		t.Fatalf("%d cases, want at least 40", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			code, out, errOut := cli(tc.args...)
			if d := time.Since(began); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
			msg := out + errOut
			if code != tc.code || !strings.Contains(msg, tc.msg) || !strings.Contains(msg, tc.field) {
				t.Errorf("exit %d, want %d with %q naming %q:\n%s", code, tc.code, tc.msg, tc.field, msg)
			}
			if tc.args[0] != "run" || slices.Contains(tc.args, "--output") {
				return
			}
			args := append([]string{"run", "--output", "json"}, tc.args[1:]...)
			code, out, errOut = cli(args...)
			if code != tc.code {
				t.Errorf("--output json: exit %d, want %d", code, tc.code)
			}
			if out != "" {
				t.Errorf("--output json wrote to stdout: %q", out)
			}
			evs := jsonEvents(t, errOut)
			if len(evs) == 0 {
				t.Fatal("--output json: no events")
			}
			last := evs[len(evs)-1]
			if last["event"] != "done" || last["exitCode"] != float64(tc.code) {
				t.Errorf("--output json: last event %v, want done with exit code %d", last, tc.code)
			}
			if tc.code == 0 {
				return
			}
			var fields []string
			for _, ev := range evs {
				if ev["event"] != "error" {
					continue
				}
				if !strings.Contains(ev["message"].(string), tc.msg) {
					t.Errorf("error event %v lacks %q", ev, tc.msg)
				}
				for _, p := range ev["problems"].([]any) {
					f, _ := p.(map[string]any)["field"].(string)
					fields = append(fields, f)
				}
			}
			if len(fields) == 0 {
				t.Errorf("--output json: no error event in\n%s", errOut)
			} else if !slices.Contains(fields, tc.field) && tc.field != "" {
				t.Errorf("--output json: error event names %q, want %q", fields, tc.field)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "results")); !os.IsNotExist(err) {
		t.Errorf("bad input created a result folder")
	}
}

// jsonEvents parses JSON lines; every line must be one.
func jsonEvents(t *testing.T, s string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		evs = append(evs, ev)
	}
	return evs
}
