package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfrun/perfrun/compare"
	"github.com/perfrun/perfrun/report"
)

func newCompareCmd() *cobra.Command {
	var (
		format, tolerances, html string
		allow                    []string
	)
	cmd := &cobra.Command{
		Use:   "compare BASE CANDIDATE | BASE... -- CANDIDATE... [--allow-different KEY]...",
		Short: "Compare the results of two releases: a benchstat-like table with tolerances; exit 3 on a regression",
		Long: `compare reads result folders (each with result.json, and k6-summary.json when
there is one), one or more runs per side, all of the same scenario; a folder
of result folders (what perfrun run --count N writes) stands for all of them.
For each metric (every assertion's value; k6's throughput, latency
percentiles and error rate) it prints the median ± spread of each side, the
change, the Mann–Whitney U p-value and a verdict against the metric's
tolerance.

Tolerances (--tolerances FILE, YAML) are keyed by metric name or kind
(throughput, latencyP95, latencyP99, errorRate, disruption, evenDistribution):

  alpha: 0.05
  metrics:
    throughput: {direction: higher, bound: ">=-10%"}
    latencyP95: {direction: lower, bound: "<=+10%", floor: 0.001}

bound is Keptn's relative notation; floor is an absolute change that a
regression must also exceed. A key that is neither a kind nor a metric of
the runs compared is refused.

compare refuses runs it cannot compare: a run given twice (the same folder,
or a copy), runs of different scenarios or schema versions, and runs whose
inputs differ, unless --allow-different names the keys that are meant to:

  scenario                   the scenario file (its sha256, before ${NAME})
  perfrun                    the perfrun version that ran it
  set.NAME                   a ${NAME} of the file as resolved (--set or default)
  env.NAME                   spec.load.env as k6 got it
  image.WORKLOAD/CONTAINER   the image deployed
  args.WORKLOAD/CONTAINER    command and args as deployed
  replicas.WORKLOAD          replicas as deployed

A family alone (set, env, image, args, replicas) or a workload
(image.listener) allows every key under it. Results from a perfrun that did
not record inputs are compared on their env alone, and the output says so.
Runs that did not reach a verdict (a harness error, an assertion that could
not be evaluated) are left out and listed; a side left with none is an error.

Exit 3 when a metric changed significantly the wrong way beyond its
tolerance, 2 on bad input (every refusal above), 0 otherwise.`,
		Example: `  perfrun compare results/base results/cand
  perfrun compare base-1 base-2 base-3 base-4 -- cand-1 cand-2 cand-3 cand-4 --format markdown
  perfrun compare results/smoke-v1-x5 results/smoke-v2-x5 --allow-different image   # two perfrun run --count 5`,
		RunE: func(cmd *cobra.Command, args []string) error {
			base, cand, err := splitSides(args, cmd.ArgsLenAtDash())
			if err != nil {
				return badInput(err)
			}
			if !slices.Contains(compare.Formats, format) {
				return badInput(fmt.Errorf("--format %q: want one of %s", format, strings.Join(compare.Formats, ", ")))
			}
			tol, err := compare.LoadTolerances(tolerances)
			if err != nil {
				return badInput(fmt.Errorf("--tolerances: %w", err))
			}
			bruns, err := compare.Load(base)
			if err != nil {
				return badInput(fmt.Errorf("base: %w", err))
			}
			cruns, err := compare.Load(cand)
			if err != nil {
				return badInput(fmt.Errorf("candidate: %w", err))
			}
			c, err := compare.Compare(bruns, cruns, tol, allow...)
			if err != nil {
				return badInput(err)
			}
			bruns, _ = compare.Usable(bruns)
			cruns, _ = compare.Usable(cruns)
			if err := c.Write(cmd.OutOrStdout(), format); err != nil {
				return fmt.Errorf("writing comparison: %w", err)
			}
			if html != "" {
				if err := report.WriteCompare(html, c, bruns, cruns); err != nil {
					return err
				}
			}
			if c.Regressed {
				return &exitError{code: exitAssertion, err: fmt.Errorf("%s", c.Summary())}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", compare.FormatText, "output: "+strings.Join(compare.Formats, ", "))
	cmd.Flags().StringVar(&tolerances, "tolerances", "", "YAML tolerance file (default: built-in tolerances)")
	cmd.Flags().StringArrayVar(&allow, "allow-different", nil, "an input KEY meant to differ between the runs (repeatable): "+strings.Join(compare.InputKeys, ", ")+", or a key under one (set.RATE, image.listener)")
	cmd.Flags().StringVar(&html, "html", "", "also write the comparison as a self-contained HTML report to this file")
	return cmd
}

// splitSides reads BASE CANDIDATE, or BASE... -- CANDIDATE... when a "--"
// separates the sides.
func splitSides(args []string, dash int) (base, cand []string, err error) {
	switch {
	case dash >= 0:
		base, cand = args[:dash], args[dash:]
	case len(args) == 2:
		base, cand = args[:1], args[1:]
	default:
		return nil, nil, fmt.Errorf("want BASE CANDIDATE, or BASE... -- CANDIDATE... (got %d folders and no --)", len(args))
	}
	if len(base) == 0 || len(cand) == 0 {
		return nil, nil, fmt.Errorf("each side needs at least one result folder (base %d, candidate %d)", len(base), len(cand))
	}
	return base, cand, nil
}
