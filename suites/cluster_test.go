//go:build cluster

package suites_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/runner"
	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/suites"
	"github.com/perfrun/perfrun/suites/accuracy"
	"github.com/perfrun/perfrun/suites/clusters"
)

// Flags (go test -tags cluster ./suites -args -perfrun.provider=kind ...);
// each has a PERFRUN_* environment variable for make and CI.
var (
	clusterOpts clusters.Options
	resultsDir  = flag.String("perfrun.results", "", "where each run's result folder goes (PERFRUN_RESULTS; default bin/suites/results)")
	runs        = flag.Int("perfrun.runs", 0, "runs of each good/bad scenario, for verdict accuracy (PERFRUN_RUNS; default 1)")
	k6Bin       = flag.String("perfrun.k6", "", "the k6 binary with the extension (PERFRUN_K6; default bin/k6)")
	artifacts   = flag.String("perfrun.artifacts", "", "where cluster logs go at the end (PERFRUN_ARTIFACTS; default: none)")
)

func init() {
	flag.StringVar(&clusterOpts.Provider, "perfrun.provider", "", "cluster provider: local (default), kind or kubeconfig (PERFRUN_PROVIDER)")
	flag.StringVar(&clusterOpts.Kubeconfig, "perfrun.kubeconfig", "", "kubeconfig provider: the cluster's kubeconfig (PERFRUN_KUBECONFIG)")
	flag.StringVar(&clusterOpts.PrometheusURL, "perfrun.prometheus-url", "", "kubeconfig provider: its Prometheus (PERFRUN_PROMETHEUS_URL)")
	flag.BoolVar(&clusterOpts.PodsReachable, "perfrun.pods-reachable", false, "kubeconfig provider: pod IPs are routable from here (PERFRUN_PODS_REACHABLE)")
	flag.StringVar(&clusterOpts.KindName, "perfrun.kind-name", "", "kind provider: cluster name (PERFRUN_KIND_NAME; default perfrun)")
	flag.StringVar(&clusterOpts.KindConfig, "perfrun.kind-config", "", "kind provider: kind config (PERFRUN_KIND_CONFIG; default fixtures/kind/cluster.yaml)")
	flag.StringVar(&clusterOpts.ChaosMeshVersion, "perfrun.chaos-mesh", "", "kind provider: Chaos Mesh chart version to install (PERFRUN_CHAOS_MESH_VERSION; empty: none)")
}

// The suite's cluster, set up once before the specs.
var (
	clusterEnv  *clusters.Env
	envCtx      context.Context
	setupFailed bool
)

func envOr(flagVal, key, def string) string {
	if flagVal != "" {
		return flagVal
	}
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func runsPerMode() int {
	if *runs > 0 {
		return *runs
	}
	if v := os.Getenv("PERFRUN_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			panic(fmt.Sprintf("PERFRUN_RUNS=%q: want a whole number ≥ 1", v))
		}
		return n
	}
	return 1
}

var _ = BeforeSuite(func(ctx SpecContext) {
	clusters.FromEnv(&clusterOpts)
	clusterOpts.Repo = repo
	clusterOpts.Log = GinkgoWriter
	clusterOpts.ImageTags = []string{"v1", "v2"}
	clusterOpts.ImageDir = filepath.Join(repo, "bin", "suites", "images")
	e, err := clusters.Select(clusterOpts)
	Expect(err).NotTo(HaveOccurred())
	// Known before the setup runs: a setup that fails half-way (Prometheus
	// or Chaos Mesh not installed, an image not loaded) still gets its
	// cluster's logs kept and everything it started torn down.
	clusterEnv, envCtx = e, context.WithoutCancel(ctx)
	By(fmt.Sprintf("setting up the %s cluster", e.Name))
	envCtx, err = clusters.Run(envCtx, e.Config, e.Setup)
	setupFailed = err != nil
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(30*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	if clusterEnv == nil {
		return
	}
	if dir := envOr(*artifacts, "PERFRUN_ARTIFACTS", ""); dir != "" && clusterEnv.Name != clusters.Kubeconfig {
		By("exporting cluster logs to " + dir)
		// From the provider itself: after a failed setup the e2e-framework
		// context holds no cluster to export from.
		if x, ok := clusterEnv.Provider.(cluster.LogExporter); ok {
			if err := x.ExportLogs(ctx, dir); err != nil {
				GinkgoWriter.Printf("exporting logs: %v\n", err)
			}
		}
	}
	By("tearing down what the suite set up")
	if setupFailed {
		if t, ok := clusterEnv.Provider.(cluster.Teardowner); ok {
			Expect(t.Teardown(context.WithoutCancel(ctx), GinkgoWriter)).To(Succeed())
		}
		return
	}
	_, err := clusters.Run(envCtx, clusterEnv.Config, clusterEnv.Finish)
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(10*time.Minute))

// runScenario runs one scenario file through exactly what `perfrun run`
// does (scenario.LoadFile, runner.Preflight, runner.Run), records the
// property's verdict as a report entry for the accuracy table, and checks
// the run left no namespace behind.
func runScenario(ctx context.Context, property, mode string, m suites.Mode, vars map[string]string) accuracy.Verdict {
	path := filepath.Join(repo, m.Scenario)
	s, err := scenario.LoadFile(path, vars)
	Expect(err).NotTo(HaveOccurred(), "scenario %s", m.Scenario)
	k6 := envOr(*k6Bin, "PERFRUN_K6", filepath.Join(repo, "bin", "k6"))
	Expect(runner.Preflight(context.Background(), s, repo, k6)).To(Succeed(), "preflight of %s", m.Scenario)

	opts := runner.Options{
		Repo:         repo,
		ResultsDir:   envOr(*resultsDir, "PERFRUN_RESULTS", filepath.Join(repo, "bin", "suites", "results")),
		K6:           k6,
		ScenarioFile: m.Scenario,
		Vars:         vars,
		Progress:     runner.NewProgress(GinkgoWriter, runner.ModeHuman),
	}
	began := time.Now()
	res, dir, runErr := runner.Run(ctx, s, clusterEnv.Provider, opts)
	if res != nil {
		runner.Table(GinkgoWriter, res, dir)
	}
	got, failed, why := suites.PropertyVerdict(res, runErr, m.Assertions)
	v := accuracy.Verdict{Property: property, Mode: mode, Scenario: m.Scenario, Want: suites.Want(mode),
		Got: got, Failed: failed, Error: why, ResultDir: dir, Took: time.Since(began).Round(time.Second)}
	AddReportEntry(accuracy.EntryName, v)

	// Everything a run starts is stopped by it.
	if res != nil && res.RunID != "" {
		Eventually(func(g Gomega) {
			var nss corev1.NamespaceList
			g.Expect(clusterEnv.Config.Client().Resources().List(ctx, &nss,
				resources.WithLabelSelector(deploy.RunLabel+"="+res.RunID))).To(Succeed())
			g.Expect(nss.Items).To(BeEmpty(), "namespaces of run %s left behind", res.RunID)
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(5 * time.Second).Should(Succeed())
	}
	return v
}

// expectVerdict asserts the verdict is the one the mode wants: a good mode
// must pass (every assertion of the run, not only the property's), a
// known-bad mode must fail by the property's own assertions. A bad mode
// that passes, or a run the harness could not decide, fails the spec.
func expectVerdict(v accuracy.Verdict) {
	Expect(v.Got).NotTo(Equal(accuracy.Error), "the harness could not decide %s: %s (results in %s)", v.Scenario, v.Error, v.ResultDir)
	switch v.Mode {
	case accuracy.ModeGood:
		Expect(v.Got).To(Equal(accuracy.Pass), "good mode %s must pass; failed: %v (results in %s)", v.Scenario, v.Failed, v.ResultDir)
		Expect(v.Failed).To(BeEmpty(), "good mode %s: every assertion must pass (results in %s)", v.Scenario, v.ResultDir)
	case accuracy.ModeBad:
		Expect(v.Got).To(Equal(accuracy.Fail), "known-bad mode %s passed: the harness missed what it exists to find (results in %s)", v.Scenario, v.ResultDir)
	}
}

var _ = Describe("smoke", Label(suites.LabelSmoke, suites.LabelNightly, suites.LabelNeedsCluster), func() {
	It("passes: "+suites.SmokeScenario, func(ctx SpecContext) {
		expectVerdict(runScenario(ctx, "smoke", accuracy.ModeGood, suites.Mode{Scenario: suites.SmokeScenario}, nil))
	}, NodeTimeout(15*time.Minute))
})

var _ = Describe("properties", Label(suites.LabelNightly, suites.LabelNeedsCluster), func() {
	n := runsPerMode()
	for _, p := range suites.Pairs {
		names := append([]string{p.Property}, p.Labels...)
		if p.CI {
			names = append(names, suites.LabelCI)
		}
		labels := Label(names...)
		Describe(p.Property, labels, func() {
			for i := 1; i <= n; i++ {
				suffix := ""
				if n > 1 {
					suffix = fmt.Sprintf(" [run %d/%d]", i, n)
				}
				It("good mode passes: "+p.Good.Scenario+suffix, func(ctx SpecContext) {
					expectVerdict(runScenario(ctx, p.Property, accuracy.ModeGood, p.Good, nil))
				}, NodeTimeout(20*time.Minute))
				It("known-bad mode fails: "+p.Bad.Scenario+" ("+p.Why+")"+suffix, func(ctx SpecContext) {
					expectVerdict(runScenario(ctx, p.Property, accuracy.ModeBad, p.Bad, nil))
				}, NodeTimeout(20*time.Minute))
			}
		})
	}
})

// Scale: the throughput scenario at a rate for real clusters
// (PERFRUN_SCALE_RATE, default 2000/s, floor 80% of it).
var _ = Describe("scale", Label(suites.LabelScale, suites.LabelNeedsCluster, "throughput"), func() {
	It("holds the throughput floor at scale", func(ctx SpecContext) {
		rate := envOr("", "PERFRUN_SCALE_RATE", "2000")
		r, err := strconv.Atoi(rate)
		Expect(err).NotTo(HaveOccurred(), "PERFRUN_SCALE_RATE=%q", rate)
		vars := map[string]string{"RATE": rate, "FLOOR": strconv.Itoa(r * 8 / 10)}
		m := suites.Mode{Scenario: "suites/scenarios/throughput.yaml", Assertions: []string{"throughput"}}
		expectVerdict(runScenario(ctx, "throughput-scale", accuracy.ModeGood, m, vars))
	}, NodeTimeout(30*time.Minute))
})

// Readiness shedding: a listener past its readiness CPU threshold leaves
// the Service's endpoints and comes back; with the gate off (threshold 0)
// it never leaves, and the same assertion must say so.
var _ = Describe("readiness shedding", Label(suites.LabelScale, suites.LabelNeedsCluster, "readiness"), func() {
	const scenario = "suites/scenarios/scale-readiness.yaml"
	It("a saturated listener leaves the endpoints and comes back: "+scenario, func(ctx SpecContext) {
		expectVerdict(runScenario(ctx, "readiness", accuracy.ModeGood, suites.Mode{Scenario: scenario}, nil))
	}, NodeTimeout(15*time.Minute))
	It("with the gate off the listener never leaves: "+scenario+" THRESHOLD=0", func(ctx SpecContext) {
		m := suites.Mode{Scenario: scenario, Assertions: []string{"listener-leaves-endpoints"}}
		expectVerdict(runScenario(ctx, "readiness", accuracy.ModeBad, m, map[string]string{"THRESHOLD": "0"}))
	}, NodeTimeout(15*time.Minute))
})
