package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/perfrun/perfrun/cluster/kind"
	"github.com/perfrun/perfrun/cluster/providers"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/runner"
	"github.com/perfrun/perfrun/scenario"
)

// newRunCmd wires `perfrun run SCENARIO` to the runner.
func newRunCmd() *cobra.Command {
	var (
		sets         []string
		opts         runner.Options
		provider     string
		popts        providers.Options
		output       string
		validateOnly bool
		count        countFlag = 1
	)
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario: deploy, load with chaos, assert from Prometheus, write results, tear down",
		Long: `Run a scenario file (apiVersion perfrun/v1, kind Scenario).
Exit codes: 0 every assertion passed, 1 harness error, 2 bad input (scenario, flags), 3 an assertion failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			res, dir, err := runFile(c, args[0], sets, output, validateOnly, int(count), provider, popts, opts)
			if !jsonOutput(c) {
				return err
			}
			// JSON: the error (when perfrun failed, not an assertion) and
			// the done event, then nothing more from realMain.
			code := exitOK
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			} else if err != nil {
				code = exitHarness
			}
			d := done{ExitCode: code, Results: dir, Assertions: outcomes(res)}
			if validateOnly && err == nil {
				d.Verdict = verdictValid
			}
			if err != nil {
				d.Error = err.Error()
				if code != exitAssertion {
					emitError(c.ErrOrStderr(), code, err)
				}
			}
			emitDone(c.ErrOrStderr(), d)
			if err != nil {
				return &exitError{code: code, err: err, reported: true}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&sets, "set", nil, "scenario variable NAME=VALUE for ${NAME} in the file (repeatable)")
	f.StringVar(&opts.Repo, "repo", ".", "the perfrun repository the scenario's paths are relative to")
	f.StringVar(&opts.ResultsDir, "results", "results", "where the run's result folder is written")
	f.StringVar(&opts.K6, "k6", "bin/k6", "k6 built with the backend extension (make k6)")
	f.BoolVar(&opts.Keep, "keep", false, "leave the run's namespace in place (debugging)")
	f.StringVar(&output, "output", runner.ModeHuman, "progress: human, quiet (final table only) or json (JSON lines on stderr)")
	f.BoolVar(&validateOnly, "validate", false, "only check the scenario and its overlay, deploy nothing")
	f.Var(&count, "count", "run the scenario N times, each in a fresh namespace, into one folder of N result folders (RESULTS/NAME-TIME-xN) that perfrun compare takes as one side")
	providerFlags(f, &provider, &popts)
	return cmd
}

// providerFlags are the flags that choose a cluster provider and set its
// options: perfrun run's and perfrun clean's, so that the same flags
// reach the same cluster.
func providerFlags(f *pflag.FlagSet, provider *string, popts *providers.Options) {
	f.StringVar(provider, "provider", providers.Local, "where the cluster comes from: "+strings.Join(providers.Names(), ", ")+
		" (embedded; a kind cluster, created or reused; any existing cluster)")
	f.StringVar(&popts.Local.StateDir, "state-dir", "", "local provider: state folder (default /var/lib/perfrun/local)")
	f.StringVar(&popts.Local.CacheDir, "cache-dir", "", "build cache: the local cluster's binaries, the images and programs a run builds (default $PERFRUN_CACHE or ~/.cache/perfrun)")
	f.StringVar(&popts.Kind.Name, "kind-cluster", kind.DefaultName, "kind provider: the kind cluster's name (created if there is none)")
	f.StringVar(&popts.Kind.Binary, "kind", kind.DefaultBinary, "kind provider: the kind command")
	f.StringVar(&popts.Kind.Config, "kind-config", "", "kind provider: kind config of a new cluster (default <repo>/"+kind.DefaultConfig+")")
	f.StringVar(&popts.Kind.Image, "kind-image", "", "kind provider: node image of a new cluster (default: perfrun's offline image, perfrun cluster kind-image, built when missing)")
	f.StringVar(&popts.Kind.ChaosMeshVersion, "chaos-mesh", "", "kind provider: Chaos Mesh chart version to install with helm (empty: none, pod kills are API deletes)")
	f.StringVar(&popts.Kubeconfig, "kubeconfig", "", "kubeconfig provider: the cluster's kubeconfig")
	f.StringVar(&popts.PrometheusURL, "prometheus-url", "", "kubeconfig provider: the Prometheus that scrapes it and accepts k6's remote write")
	f.BoolVar(&popts.PodsReachable, "pods-reachable", false, "kubeconfig provider: pod and service IPs are routable from here (k6 runs locally)")
}

// providerFlag spells a providers.OptionError with the flag's name.
func providerFlag(err error) error {
	var oe *providers.OptionError
	if errors.As(err, &oe) {
		return fmt.Errorf("--%s: %w", oe.Option, oe.Err)
	}
	return err
}

// runScenario is perfrun run: the flags and the scenario checked (bad
// input, exit 2), then, unless validateOnly, the run. It returns the run's
// result and folder when it got that far.
func runFile(c *cobra.Command, file string, sets []string, output string, validateOnly bool, count int,
	provider string, popts providers.Options, opts runner.Options) (*result.Run, string, error) {
	vars := map[string]string{}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, "", badInput(fmt.Errorf("--set: %q is not NAME=VALUE", kv))
		}
		if _, dup := vars[k]; dup {
			return nil, "", badInput(fmt.Errorf("--set %s: given twice", k))
		}
		vars[k] = v
	}
	var mode string
	switch output {
	case runner.ModeHuman, runner.ModeQuiet, runner.ModeJSON:
		mode = output
	default:
		return nil, "", badInput(fmt.Errorf("--output %q: want human, quiet or json", output))
	}
	// The provider is checked (not started) before the scenario, so
	// a bad --provider or provider flag is bad input with --validate too.
	popts.Repo = opts.Repo
	// One build cache: what perfrun cluster load --cache-dir fills is what
	// the run finds its images' tarballs (and their age) in.
	opts.CacheDir = popts.Local.CacheDir
	p, err := providers.New(provider, popts)
	if err != nil {
		return nil, "", badInput(providerFlag(err))
	}
	s, err := scenario.LoadFile(file, vars)
	if err != nil {
		// A file that cannot be read or is not a valid scenario is bad input.
		return nil, "", badInput(err)
	}
	k6 := opts.K6
	if validateOnly {
		k6 = "" // nothing runs: k6 need not be built yet
	}
	if err := runner.Preflight(c.Context(), s, opts.Repo, k6); err != nil {
		return nil, "", badInput(err)
	}
	if validateOnly {
		if mode != runner.ModeJSON {
			fmt.Fprintf(c.OutOrStdout(), "%s: valid\n", file)
		}
		return nil, "", nil
	}
	opts.ScenarioFile = file
	opts.Progress = runner.NewProgress(c.ErrOrStderr(), mode)
	opts.Vars = vars
	if in := interruptsFrom(c.Context()); in != nil {
		// A second Ctrl-C names what the run in progress may leave; until
		// a run starts, interrupts are said as --output asks too.
		in.running("", "", mode == runner.ModeJSON)
		opts.Started = func(ns, dir string) { in.running(ns, dir, mode == runner.ModeJSON) }
	}
	if count > 1 {
		return nil, "", runCount(c, s, p, opts, mode, count)
	}
	res, dir, err := runner.Run(c.Context(), s, p, opts)
	if res != nil && mode != runner.ModeJSON {
		runner.Table(c.OutOrStdout(), res, dir)
	}
	if err != nil {
		return res, dir, &exitError{code: exitHarness, err: fmt.Errorf("run failed (results in %s): %w", dir, err)}
	}
	switch res.Verdict {
	case result.VerdictFail:
		var failed []string
		for _, a := range res.Assertions {
			if !a.Passed() {
				failed = append(failed, a.Name)
			}
		}
		return res, dir, &exitError{code: exitAssertion, err: fmt.Errorf("assertion(s) failed: %s", strings.Join(failed, ", "))}
	case result.VerdictError:
		return res, dir, &exitError{code: exitHarness, err: errors.New("some assertions could not be evaluated; see the table")}
	}
	return res, dir, nil
}
