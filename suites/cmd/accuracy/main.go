// Command accuracy prints the verdict-accuracy table of one or more Ginkgo
// JSON reports of the suites (make verdict-accuracy): per property and
// mode, the runs, passes and fails. It exits 1 when a good mode did not pass
// every run or a known-bad mode did not fail every run, 2 on bad input.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/perfrun/perfrun/suites/accuracy"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: accuracy GINKGO-REPORT.json...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var all []accuracy.Verdict
	for _, path := range flag.Args() {
		vs, err := accuracy.ReadReport(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "accuracy:", err)
			os.Exit(2)
		}
		all = append(all, vs...)
	}
	if len(all) == 0 {
		fmt.Fprintln(os.Stderr, "accuracy: no verdicts in", flag.Args(), "(did the suite run any good/bad pair?)")
		os.Exit(1)
	}
	rows := accuracy.Tally(all)
	if err := accuracy.WriteTable(os.Stdout, rows); err != nil {
		fmt.Fprintln(os.Stderr, "accuracy:", err)
		os.Exit(1)
	}
	if !accuracy.Accurate(rows) {
		fmt.Fprintln(os.Stderr, "accuracy: some verdicts were wrong (or undecided)")
		os.Exit(1)
	}
}
