package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/perfrun/perfrun/report"
	"github.com/perfrun/perfrun/result"
)

func newReportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report RESULT",
		Short: "Write a result folder's report.html (verdict table, then plots); perfrun run writes it too",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, err := result.Read(filepath.Join(args[0], result.ResultFile))
			if err != nil {
				return badInput(err)
			}
			if out == "" {
				out = filepath.Join(args[0], report.File)
			}
			if err := report.WriteFile(out, run); err != nil {
				return err
			}
			if run.Unfinished() {
				// Its page has what the run got to and no verdict.
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: the run did not finish (stopped in phase %s): no verdict\n", args[0], run.Phase)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default RESULT/report.html)")
	return cmd
}
