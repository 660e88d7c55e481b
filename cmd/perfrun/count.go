package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/runner"
	"github.com/perfrun/perfrun/scenario"
)

// runScenario carries out one run: runner.Run. Tests replace it to check
// what --count writes without a cluster.
var runScenario = runner.Run

// countFlag is --count: a number of runs ≥ 1, refused as bad input when
// the flags are parsed.
type countFlag int

func (c *countFlag) String() string { return strconv.Itoa(int(*c)) }
func (c *countFlag) Type() string   { return "N" }
func (c *countFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("want a whole number ≥ 1, got %q", s)
	}
	*c = countFlag(n)
	return nil
}

// runCount runs the scenario n times on one cluster, each run in a fresh
// namespace (runner.Run gives every run its own ID) and its own result
// folder, all in one folder RESULTS/NAME-TIME-xN that perfrun compare takes
// as one side. It goes on after a failed or errored run (compare leaves the
// errored ones out) and stops when interrupted. The exit code is the
// worst: 1 if a run had a harness error or the runs were interrupted, else
// 3 if an assertion failed in any, else 0.
func runCount(c *cobra.Command, s *scenario.Scenario, p cluster.Provider, opts runner.Options, mode string, n int) error {
	ctx := c.Context()
	parent := filepath.Join(opts.ResultsDir, fmt.Sprintf("%s-%s-x%d", s.Metadata.Name, time.Now().UTC().Format("20060102T150405Z"), n))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return &exitError{code: exitHarness, err: fmt.Errorf("creating result folder: %w", err)}
	}
	opts.ResultsDir = parent
	out := c.OutOrStdout()
	say := func(format string, args ...any) {
		if mode == runner.ModeJSON {
			opts.Progress.Linef(format, args...)
		} else {
			fmt.Fprintf(out, format+"\n", args...)
		}
	}
	verdicts := map[string]int{}
	var dirs []string
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		opts.Progress.Linef("run %d of %d", i+1, n)
		res, dir, err := runScenario(ctx, s, p, opts)
		if dir != "" {
			dirs = append(dirs, dir)
		}
		if res != nil && mode != runner.ModeJSON {
			runner.Table(out, res, dir)
		}
		v := result.VerdictError
		if res != nil && err == nil {
			v = res.Verdict
		}
		verdicts[v]++
		if err != nil {
			say("run %d of %d failed (results in %s): %v", i+1, n, dir, err)
		}
	}
	say("%d of %d run(s) of %s in %s: %d pass, %d fail, %d error", len(dirs), n, s.Metadata.Name, parent,
		verdicts[result.VerdictPass], verdicts[result.VerdictFail], verdicts[result.VerdictError])
	for _, d := range dirs {
		say("  %s", d)
	}
	say("compare them as one side: perfrun compare %s OTHER", parent)
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitHarness, err: fmt.Errorf("interrupted after %d of %d run(s) (results in %s): %w", len(dirs), n, parent, ctx.Err())}
	case verdicts[result.VerdictError] > 0:
		return &exitError{code: exitHarness, err: fmt.Errorf("%d of %d run(s) ended in a harness error (results in %s)", verdicts[result.VerdictError], n, parent)}
	case verdicts[result.VerdictFail] > 0:
		return &exitError{code: exitAssertion, err: fmt.Errorf("assertion(s) failed in %d of %d run(s) (results in %s)", verdicts[result.VerdictFail], n, parent)}
	}
	return nil
}
