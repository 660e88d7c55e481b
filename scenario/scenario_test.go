package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `apiVersion: perfrun/v1
kind: Scenario
metadata:
  name: smoke
spec:
  system:
    overlay: fixtures/system/overlays/v2
    components:
      controller: {replicas: 3}
      worker: {replicas: 2, image: perfrun/worker:v2, args: ["-queue=v2"], env: {A: b}}
  load:
    script: fixtures/load/smoke.js
    duration: 60s
    env: {RATE: "${RATE:-100}"}
  drain:
    query: sum(apisonator_worker_queue_depth{namespace="{{.namespace}}"})
  chaos:
    - name: kill_one
      at: 20s
      podKill: {component: controller, ordinal: 1}
    - name: upgrade
      at: 30s
      upgrade:
        components: {worker: {image: perfrun/worker:v2}}
        migration: {when: during, image: perfrun/migrate:v2}
  assertions:
    - name: rate
      query: sum(rate(x[{{.duration}}] @ {{.end}})) + {{.chaos.kill_one.start}}
      op: ">="
      bound: 10
      range: {step: 10s}
    - name: throughput
      throughput: {floor: 50, skip: 10s}
    - name: even
      evenDistribution: {max: 1.5}
    - name: disruption
      disruption: {chaos: kill_one, tolerance: 0.05, deadline: "1"}
    - name: no-loss
      noLoss: {service: svc, apps: 10}
`

func TestParseGood(t *testing.T) {
	s, err := Parse([]byte(good), map[string]string{"RATE": "250"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := s.Spec.Load.Env["RATE"]; got != "250" {
		t.Errorf("RATE = %q, want 250 from vars", got)
	}
	if got := s.Spec.Load.Duration.Duration; got != time.Minute {
		t.Errorf("duration = %v", got)
	}
	if got := *s.Spec.Chaos[0].PodKill.Ordinal; got != 1 {
		t.Errorf("ordinal = %d", got)
	}
	// Defaults.
	if s.Spec.Load.Runner != RunnerAuto || !*s.Spec.Load.Thresholds || s.Spec.Load.Target.Service != "listener" {
		t.Errorf("load defaults not set: %+v", s.Spec.Load)
	}
	if got := s.Spec.Assertions[3].Disruption.Replicas; got != 3 {
		t.Errorf("disruption replicas = %d, want 3 from spec.system.components.controller", got)
	}
	if got := s.Spec.Assertions[0].Range.Reduce; got != "max" {
		t.Errorf("range reduce default = %q", got)
	}
	if got := s.Spec.Assertions[4].NoLoss.AppPrefix; got != "app-" {
		t.Errorf("noLoss appPrefix default = %q", got)
	}
	s2, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Spec.Load.Env["RATE"]; got != "100" {
		t.Errorf("RATE default = %q, want 100", got)
	}
}

// TestBadInputs: each bad input gives errors naming the field path.
func TestBadInputs(t *testing.T) {
	cases := []struct {
		name string
		old  string // replaced in good
		new  string
		want []string // substrings, each must appear in one error
	}{
		{"api version", "perfrun/v1", "perfrun/v9", []string{`apiVersion: want "perfrun/v1"`}},
		{"kind", "kind: Scenario", "kind: Run", []string{`kind: want "Scenario"`}},
		{"unknown top field", "kind: Scenario", "kind: Scenario\nextra: 1", []string{"extra (line 3): unknown field"}},
		{"unknown nested field", "podKill: {component: controller, ordinal: 1}", "podKill: {component: controller, ordnal: 1}", []string{"spec.chaos[0].podKill.ordnal (line 20): unknown field (known: component, count, gracePeriod, ordinal, percent, seed)"}},
		{"two unknown fields at once", "duration: 60s", "duration: 60s\n    vus: 3\n    rps: 4", []string{"spec.load.vus", "spec.load.rps"}},
		{"duplicate", "duration: 60s", "duration: 60s\n    duration: 30s", []string{"spec.load.duration (line 14): duplicate field"}},
		{"bad duration", "duration: 60s", "duration: sixty", []string{`spec.load.duration (line 13): want a duration such as 30s or 2m, got "sixty"`}},
		{"negative duration", "at: 20s", "at: -20s", []string{"spec.chaos[0].at", "must not be negative"}},
		{"bad int", "ordinal: 1}", "ordinal: one}", []string{`spec.chaos[0].podKill.ordinal (line 20): want an integer, got "one"`}},
		{"quoted number", "floor: 50", `floor: "50"`, []string{`spec.assertions[1].throughput.floor (line 33): want a number, got "50" (unquoted)`}},
		{"list for map", "env: {RATE: \"${RATE:-100}\"}", "env: [a]", []string{"spec.load.env (line 14): want a mapping, got a list"}},
		{"missing name", "name: smoke", "name: \"\"", []string{"metadata.name: required"}},
		{"bad name", "name: smoke", "name: Smoke_Test", []string{"metadata.name: must be a DNS label"}},
		{"overlay outside fixtures", "overlay: fixtures/system/overlays/v2", "overlay: /etc/passwd", []string{"spec.system.overlay: must be relative"}},
		{"overlay dotdot", "overlay: fixtures/system/overlays/v2", "overlay: fixtures/../../x", []string{"spec.system.overlay: must be a clean path"}},
		{"overlay elsewhere", "overlay: fixtures/system/overlays/v2", "overlay: system/x", []string{"spec.system.overlay: must be under fixtures/"}},
		{"script not js", "smoke.js", "smoke.ts", []string{"spec.load.script: must be a .js k6 script"}},
		{"script elsewhere", "fixtures/load/smoke.js", "fixtures/smoke.js", []string{"spec.load.script: must be under fixtures/load/"}},
		{"no duration", "duration: 60s", "duration: 0s", []string{"spec.load.duration: required and > 0"}},
		{"runner", "duration: 60s", "duration: 60s\n    runner: remote", []string{`spec.load.runner: must be auto, local or job, got "remote"`}},
		{"negative replicas", "replicas: 3}", "replicas: -1}", []string{"spec.system.components.controller.replicas: must be ≥ 0"}},
		{"env name", "env: {A: b}", "env: {1A: b}", []string{"spec.system.components.worker.env.1A: not a valid environment variable name"}},
		{"resource name", "env: {A: b}", "env: {A: b}, resources: {limits: {gpu: 1}}", []string{"spec.system.components.worker.resources.limits.gpu: unknown resource (one of cpu, memory, ephemeral-storage)"}},
		{"resource quantity", "env: {A: b}", "env: {A: b}, resources: {limits: {cpu: lots}}", []string{`spec.system.components.worker.resources.limits.cpu: not a quantity: "lots"`}},
		{"resource zero", "env: {A: b}", "env: {A: b}, resources: {requests: {memory: \"0\"}}", []string{"spec.system.components.worker.resources.requests.memory: must be > 0"}},
		{"request over limit", "env: {A: b}", "env: {A: b}, resources: {requests: {cpu: 200m}, limits: {cpu: 100m}}", []string{"spec.system.components.worker.resources.requests.cpu: 200m is above the limit 100m"}},
		{"chaos name", "name: kill_one", "name: kill-one", []string{"spec.chaos[0].name: must be an identifier", "spec.assertions[0].query"}},
		{"chaos after load", "at: 20s", "at: 90s", []string{"spec.chaos[0].at: must be before the load ends (1m0s), got 1m30s"}},
		{"chaos two kinds", "podKill: {component: controller, ordinal: 1}", "podKill: {component: controller, ordinal: 1}\n      upgrade: {components: {worker: {image: x}}}", []string{"spec.chaos[0]: exactly one of podKill, podFailure, upgrade must be set, got 2"}},
		{"chaos no kind", "      podKill: {component: controller, ordinal: 1}\n", "", []string{"spec.chaos[0]: exactly one of podKill, podFailure, upgrade must be set, got 0", `spec.assertions[3].disruption.chaos: action "kill_one" is not a podKill`}},
		{"pick two ways", "ordinal: 1}", "ordinal: 1, count: 2}", []string{"spec.chaos[0].podKill: at most one of count, ordinal, percent"}},
		{"percent", "ordinal: 1}", "percent: 120}", []string{"spec.chaos[0].podKill.percent: must be 1..100, got 120"}},
		{"no component", "{component: controller, ordinal: 1}", "{ordinal: 1}", []string{"spec.chaos[0].podKill.component: required"}},
		{"upgrade nothing", "components: {worker: {image: perfrun/worker:v2}}\n", "migration: {when: after, image: x}\n", []string{"spec.chaos[1].upgrade: set overlay (the release to roll to) or components"}},
		{"upgrade overlay elsewhere", "components: {worker: {image: perfrun/worker:v2}}\n", "overlay: /tmp/x\n", []string{"spec.chaos[1].upgrade.overlay: must be relative"}},
		{"upgrade empty", "{worker: {image: perfrun/worker:v2}}", "{worker: {}}", []string{"spec.chaos[1].upgrade.components.worker: nothing to change"}},
		{"migration when", "when: during", "when: sometime", []string{`spec.chaos[1].upgrade.migration.when: must be before, during or after, got "sometime"`}},
		{"migration image", "when: during, image: perfrun/migrate:v2", "when: during", []string{"spec.chaos[1].upgrade.migration.image: required"}},
		{"op", `op: ">="`, `op: "=>"`, []string{`spec.assertions[0].op: must be one of < <= > >= == !=, got "=>"`}},
		{"no bound", "      bound: 10\n", "", []string{"spec.assertions[0].bound: required with query"}},
		{"bad template", "{{.chaos.kill_one.start}}", "{{.chaos.kill_two.start}}", []string{"spec.assertions[0].query: expanding template", "kill_two"}},
		{"template syntax", "{{.duration}}", "{{.duration", []string{"spec.assertions[0].query: parsing template"}},
		{"reduce", "range: {step: 10s}", "range: {step: 10s, reduce: median}", []string{`spec.assertions[0].range.reduce: must be one of max min avg last first, got "median"`}},
		{"assertion two kinds", "throughput: {floor: 50, skip: 10s}", "throughput: {floor: 50, skip: 10s}\n      noLoss: {service: s, apps: 1}", []string{"spec.assertions[1]: exactly one of query, throughput"}},
		{"ready-made with op", "throughput: {floor: 50, skip: 10s}", "throughput: {floor: 50, skip: 10s}\n      op: \"<\"", []string{"spec.assertions[1].op: only with query"}},
		{"floor", "floor: 50", "floor: 0", []string{"spec.assertions[1].throughput.floor: must be > 0"}},
		{"even max", "max: 1.5", "max: 0.5", []string{"spec.assertions[2].evenDistribution.max: must be ≥ 1"}},
		{"disruption unknown chaos", "chaos: kill_one, tolerance", "chaos: nope, tolerance", []string{`spec.assertions[3].disruption.chaos: no chaos action named "nope"`}},
		{"disruption deadline", `, deadline: "1"`, "", []string{"spec.assertions[3].disruption.deadline: required"}},
		{"disruption tolerance", "tolerance: 0.05", "tolerance: 1.5", []string{"spec.assertions[3].disruption.tolerance: must be in [0, 1)"}},
		{"noloss", "{service: svc, apps: 10}", "{apps: 0}", []string{"spec.assertions[4].noLoss.service: required", "spec.assertions[4].noLoss.apps: must be ≥ 1"}},
		{"dup assertion", "name: even", "name: throughput", []string{`spec.assertions[2].name: duplicate assertion name "throughput"`}},
		{"drain template", "{{.namespace}}", "{{.ns}}", []string{"spec.drain.query: expanding template"}},
		{"drain stall", "{{.namespace}}\"})\n", "{{.namespace}}\"})\n    timeout: 30s\n    stall: 30s\n", []string{"spec.drain.stall: must be shorter than spec.drain.timeout (30s), got 30s"}},
		{"drain stall negative", "{{.namespace}}\"})\n", "{{.namespace}}\"})\n    stall: -5s\n", []string{"spec.drain.stall"}},
		{"drain stall without query", "    query: sum(apisonator_worker_queue_depth{namespace=\"{{.namespace}}\"})\n", "    stall: 5s\n", []string{"spec.drain.stall: needs spec.drain.query"}},
		{"missing var", "${RATE:-100}", "${RATE}", []string{"RATE not set and without default"}},
		{"query PromQL", "sum(rate(x[{{.duration}}] @ {{.end}}))", "sum(rate(x[[{{.duration}}]))", []string{"spec.assertions[0].query: not valid PromQL", "expanded: sum(rate(x[[60s]))"}},
		{"query PromQL after template", "rate(x[", "rate(x{namespace={{.namespace}}}[", []string{"spec.assertions[0].query: not valid PromQL", "x{namespace=ns}"}},
		{"drain PromQL", `sum(apisonator_worker_queue_depth{namespace="{{.namespace}}"})`, `sum(apisonator_worker_queue_depth{namespace="{{.namespace}}"}`, []string{"spec.drain.query: not valid PromQL"}},
		{"throughput selector", "floor: 50, skip: 10s", "floor: 50, skip: 10s, selector: 'rate(x[1m])'", []string{"spec.assertions[1].throughput.selector: must be a series selector"}},
		{"throughput selector PromQL", "floor: 50, skip: 10s", "floor: 50, skip: 10s, selector: 'x{a=\"b\"'", []string{"spec.assertions[1].throughput.selector: not a valid PromQL series selector"}},
		{"even metric", "max: 1.5", "max: 1.5, metric: 'x{a=\"b\"}'", []string{"spec.assertions[2].evenDistribution.metric: must be a metric name"}},
		{"even by", "max: 1.5", "max: 1.5, by: 'pod)'", []string{"spec.assertions[2].evenDistribution.by: must be label names"}},
		{"disruption histogram", `deadline: "1"`, `deadline: "1", histogram: "a b"`, []string{"spec.assertions[3].disruption.histogram: must be a metric name"}},
		{"metrics selector", "  system:\n", "  system:\n    metrics: {served: 'sum(x)'}\n", []string{"spec.system.metrics.served: must be a series selector"}},
		{"metrics name", "  system:\n", "  system:\n    metrics: {workLatency: 'x{a=\"b\"}'}\n", []string{"spec.system.metrics.workLatency: must be a metric name"}},
		{"metrics labels", "  system:\n", "  system:\n    metrics: {answerLabels: 'a, b c'}\n", []string{"spec.system.metrics.answerLabels: must be label names"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(good, tc.old, tc.new, 1)
			if src == good {
				t.Fatalf("test case replaces nothing: %q", tc.old)
			}
			_, err := Parse([]byte(src), nil)
			if err == nil {
				t.Fatal("Parse accepted a bad scenario")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestErrorsAreAllReported(t *testing.T) {
	src := strings.NewReplacer("name: smoke", "name: \"\"", "duration: 60s", "duration: 0s", "floor: 50", "floor: -1").Replace(good)
	_, err := Parse([]byte(src), nil)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	if len(errs) < 3 {
		t.Fatalf("got %d problems, want all three at once: %v", len(errs), err)
	}
	if !strings.Contains(err.Error(), "problems):") {
		t.Errorf("multi-problem message lacks count header: %v", err)
	}
}

func TestMultipleDocumentsRejected(t *testing.T) {
	if _, err := Decode([]byte(good + "---\n" + good)); err == nil || !strings.Contains(err.Error(), "more than one document") {
		t.Fatalf("err = %v", err)
	}
}

func TestExpand(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	w := Window{Start: start, End: start.Add(95 * time.Second), Namespace: "perfrun-x", TestID: "tid",
		Chaos: map[string]ActionWindow{"kill": {Start: start.Add(20 * time.Second), End: start.Add(22 * time.Second)}}}
	got, err := Expand(`{{.start}} {{.end}} {{.duration}} {{.seconds}} {{.namespace}} {{.testid}} {{.chaos.kill.start}} {{.chaos.kill.end}} {{.chaos.kill.duration}} {{.chaos.kill.untilEnd}} {{.chaos.kill.offset}}`, w)
	if err != nil {
		t.Fatal(err)
	}
	want := "1800000000 1800000095 95s 95 perfrun-x tid 1800000020 1800000022 2s 75s 20s"
	if got != want {
		t.Errorf("Expand = %q\nwant     %q", got, want)
	}
	if PromDuration(200*time.Millisecond) != "1s" {
		t.Error("PromDuration must never go below 1s")
	}
}

func TestExampleScenariosParse(t *testing.T) {
	files, _ := filepath.Glob("../suites/scenarios/*.yaml")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(raw, nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestActionKinds(t *testing.T) {
	s, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Spec.Chaos[0].Kind(); got != KindPodKill {
		t.Errorf("kind of a podKill = %q", got)
	}
	if got := s.Spec.Chaos[1].Kind(); got != KindUpgrade {
		t.Errorf("kind of an upgrade = %q", got)
	}
	if a := (Action{Name: "none"}); a.Kind() != "" || a.Spec() != nil || len(a.Specs()) != 0 {
		t.Errorf("an action with no kind: %q %v", a.Kind(), a.Specs())
	}
	two := Action{PodKill: &PodKill{}, Upgrade: &Upgrade{}}
	if two.Kind() != "" || len(two.Specs()) != 2 {
		t.Errorf("an action with two kinds: %q %v", two.Kind(), two.Specs())
	}
}

// Every field of the metric contract has a shape it is checked against,
// and the reference system's contract has that shape.
func TestMetricShapes(t *testing.T) {
	m := ReferenceMetrics().fields()
	if len(m) != len(metricShapes) {
		t.Errorf("metric contract has %d fields, metricShapes %d", len(m), len(metricShapes))
	}
	w := Window{Namespace: "ns"}
	for name, sel := range m {
		check, ok := metricShapes[name]
		if !ok {
			t.Errorf("no shape for spec.system.metrics.%s", name)
			continue
		}
		q, err := Expand(sel, w)
		if err != nil {
			t.Fatal(err)
		}
		if err := check(q); err != nil {
			t.Errorf("reference %s: %v", name, err)
		}
	}
}
