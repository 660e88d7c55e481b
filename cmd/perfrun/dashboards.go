package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/perfrun/perfrun/dashboards"
	"github.com/perfrun/perfrun/result"
)

func newDashboardsCmd() *cobra.Command {
	var (
		dir         string
		annotations string
	)
	cmd := &cobra.Command{
		Use:   "dashboards",
		Short: "Write the Grafana dashboards (system, load, chaos) ready to import, or a run's chaos events as Grafana annotations",
		Long: `dashboards writes perfrun's Grafana dashboards as JSON into --output: the
Prometheus datasource is a variable, chosen on import. With --annotations
RESULT it prints instead the run's chaos events as bodies for Grafana's
POST /api/annotations (tags perfrun, chaos), which the chaos dashboard shows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if annotations != "" {
				run, err := result.Read(filepath.Join(annotations, result.ResultFile))
				if err != nil {
					return badInput(fmt.Errorf("--annotations: %w", err))
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(dashboards.ChaosAnnotations(run))
			}
			paths, err := dashboards.Write(dir)
			if err != nil {
				return err
			}
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", "dashboards", "folder to write the dashboards into")
	cmd.Flags().StringVar(&annotations, "annotations", "", "print this result folder's chaos events as Grafana annotations")
	return cmd
}
