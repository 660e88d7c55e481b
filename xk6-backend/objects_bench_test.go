//go:build benchobjects

package backend_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestObjectLoadVersusKubeBurner is `make bench-objects`: the extension's
// object load (fixtures/load/taskruns.js with bin/k6) against what a user
// would pick instead, kube-burner (pinned in tools/kube-burner), creating
// the same TaskRuns at the same rate against one real kube-apiserver and
// etcd with Tekton's TaskRun CRD. Each round runs both, alternating which
// goes first; the figure is TaskRuns the API server holds per CPU-second
// of the generator process (user + system, from its rusage), and its peak
// memory. It fails when a tool does not create every TaskRun at the rate
// asked (a generator that falls behind is not measured at that rate), not
// on the ratio: machines here are noisy, so the ratio is reported, median
// of the rounds, in PERFRUN_BENCH_OUT.
//
//	RATE (TaskRuns/s, 50), SECONDS (20), ROUNDS (3)
func TestObjectLoadVersusKubeBurner(t *testing.T) {
	burner := os.Getenv("PERFRUN_KUBE_BURNER")
	if burner == "" {
		t.Fatal("PERFRUN_KUBE_BURNER is not set: make bench-objects builds kube-burner and sets it")
	}
	rate, seconds, rounds := envInt(t, "RATE", 50), envInt(t, "SECONDS", 20), envInt(t, "ROUNDS", 3)
	etcdBin, apiserverBin := kubeBinaries(t)
	api := startAPIServer(t, etcdBin, apiserverBin)
	k6 := k6Binary(t)
	api.waitReady(t)
	api.installTaskRunCRD(t)
	want := rate * seconds

	type sample struct {
		tool         string
		round        int
		created      int
		wall, cpu    time.Duration
		maxRSSMiB    float64
		perCPUSecond float64
		achievedPerS float64
	}
	var samples []sample
	tools := map[string]func(ns string) (*os.ProcessState, string, error){
		"k6 extension": func(ns string) (*os.ProcessState, string, error) {
			api.mustCreate(t, "/api/v1/namespaces", map[string]any{
				"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}})
			return runMeasured(t, ".", k6, []string{"run", "--quiet", "--no-color",
				"-e", "KUBECONFIG=" + api.kubeconfig, "-e", "NAMESPACE=" + ns, "-e", "TESTID=" + ns,
				"-e", "RATE=" + strconv.Itoa(rate), "-e", "DURATION=" + strconv.Itoa(seconds) + "s",
				// VUs ready for a second of creates in flight: k6
				// drops arrivals while it starts VUs mid-run (seen at
				// 200/s with creates of up to 0.6 s on a busy machine, and
				// with half a second's worth still 4 of 2000).
				"-e", "PRE_VUS=" + strconv.Itoa(max(2, rate)),
				"../fixtures/load/taskruns.js"}, []string{"K6_NO_USAGE_REPORT=true"})
		},
		"kube-burner": func(ns string) (*os.ProcessState, string, error) {
			dir := t.TempDir()
			writeKubeBurnerConfig(t, dir, ns, rate, want)
			// kube-burner reads objectTemplate relative to its working
			// folder.
			return runMeasured(t, dir, burner, []string{"init", "-c", "config.yml",
				"--kubeconfig", api.kubeconfig, "--uuid", ns, "--timeout", "5m"}, nil)
		},
	}
	order := []string{"k6 extension", "kube-burner"}
	for round := 1; round <= rounds; round++ {
		for _, tool := range order {
			ns := fmt.Sprintf("bench-%s-%d", strings.Fields(tool)[0], round)
			ns = strings.ReplaceAll(ns, "kube-burner", "kb")
			began := time.Now()
			ps, out, err := tools[tool](ns)
			wall := time.Since(began)
			if err != nil {
				t.Fatalf("%s, round %d: %v\n%s", tool, round, err, tail(out, 40))
			}
			created := len(api.taskRuns(t, ns, ""))
			// k6's constant-arrival-rate starts one more arrival at the end.
			if created < want || created > want+1 {
				t.Fatalf("%s, round %d: the API server holds %d TaskRuns in %s, want %d\n%s", tool, round, created, ns, want, tail(out, 40))
			}
			cpu := ps.UserTime() + ps.SystemTime()
			s := sample{tool: tool, round: round, created: created, wall: wall, cpu: cpu,
				perCPUSecond: float64(created) / cpu.Seconds(), achievedPerS: float64(created) / wall.Seconds()}
			if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
				s.maxRSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
			}
			t.Logf("%s, round %d: %d TaskRuns in %s, CPU %s, %.0f TaskRuns per CPU-second, peak RSS %.0f MiB",
				tool, round, created, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), s.perCPUSecond, s.maxRSSMiB)
			samples = append(samples, s)
		}
		slices.Reverse(order)
	}

	median := func(tool string, f func(sample) float64) float64 {
		var v []float64
		for _, s := range samples {
			if s.tool == tool {
				v = append(v, f(s))
			}
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# TaskRuns per generator CPU-second: k6 extension vs kube-burner\n\n")
	fmt.Fprintf(&b, "%d TaskRuns/s for %d s (%d TaskRuns) each, %d rounds alternating which goes first, one kube-apiserver + etcd on 127.0.0.1 with Tekton's TaskRun CRD.\n\n", rate, seconds, want, rounds)
	fmt.Fprintf(&b, "| tool | round | created | wall | CPU | TaskRuns per CPU-s | peak RSS MiB |\n|---|---|---|---|---|---|---|\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f s | %.2f s | %.0f | %.0f |\n", s.tool, s.round, s.created, s.wall.Seconds(), s.cpu.Seconds(), s.perCPUSecond, s.maxRSSMiB)
	}
	per := func(s sample) float64 { return s.perCPUSecond }
	rss := func(s sample) float64 { return s.maxRSSMiB }
	ext, kb := median("k6 extension", per), median("kube-burner", per)
	fmt.Fprintf(&b, "\nMedian TaskRuns per CPU-second: k6 extension %.0f, kube-burner %.0f: ratio %.2f (extension / kube-burner).\n", ext, kb, ext/kb)
	fmt.Fprintf(&b, "Median peak RSS: k6 extension %.0f MiB, kube-burner %.0f MiB.\n", median("k6 extension", rss), median("kube-burner", rss))
	t.Log("\n" + b.String())
	if out := os.Getenv("PERFRUN_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeKubeBurnerConfig writes a kube-burner job that creates n TaskRuns in
// ns at rate per second (its client's QPS and its own limiter), the same
// TaskRun as fixtures/load/taskruns.js (one step with a script), waiting
// for nothing and collecting no metrics: only the creates are compared.
func writeKubeBurnerConfig(t *testing.T, dir, ns string, rate, n int) {
	t.Helper()
	cfg := fmt.Sprintf(`global:
  gc: false
  measurements: []
jobs:
- name: taskruns
  jobType: create
  jobIterations: %d
  qps: %d
  burst: %d
  namespace: %s
  namespacedIterations: false
  cleanup: false
  podWait: false
  waitWhenFinished: false
  # The test counts what the API server holds itself: kube-burner's own
  # verification (a list after the job) would be CPU the extension does
  # not spend.
  verifyObjects: false
  preLoadImages: false
  objects:
  - objectTemplate: taskrun.yml
    replicas: 1
    wait: false
`, n, rate, rate, ns)
	tr := `apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: kb-tr-{{.Iteration}}-{{.Replica}}
  labels:
    app.kubernetes.io/part-of: perfrun
spec:
  taskSpec:
    steps:
    - name: step-0
      image: busybox
      script: |
        #!/bin/sh
        echo step 0
`
	for name, body := range map[string]string{"config.yml": cfg, "taskrun.yml": tr} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runMeasured runs a generator in dir bounded to 5 minutes and returns its
// process state (CPU times, rusage) and output.
func runMeasured(t *testing.T, dir, bin string, args, env []string) (*os.ProcessState, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childAttr()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not end within 5m: %w", filepath.Base(bin), err)
	}
	return cmd.ProcessState, string(out), err
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
