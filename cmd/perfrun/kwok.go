package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/perfrun/perfrun/cluster/kwok"
	"github.com/perfrun/perfrun/cluster/local"
)

// newKwokCmd wires `perfrun cluster kwok`: simulated nodes on the local
// cluster (or any cluster with --kubeconfig).
func newKwokCmd(opts *local.Options) *cobra.Command {
	var (
		nodes      int
		kubeconfig string
		down       bool
		capacity   = kwok.DefaultCapacity
	)
	cmd := &cobra.Command{
		Use:   "kwok",
		Short: "Add simulated nodes (kwok, built from its pinned module) for scale runs; --down removes them",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			out := c.OutOrStdout()
			if nodes < 0 {
				return fmt.Errorf("--nodes: want ≥ 0, got %d", nodes)
			}
			cl := local.New(*opts)
			if kubeconfig == "" {
				kubeconfig = cl.Kubeconfig()
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
			}
			kube, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			stateDir := opts.StateDir
			if stateDir == "" {
				stateDir = "/var/lib/perfrun/local"
			}
			proc := kwok.Process{Dir: filepath.Join(stateDir, "kwok")}
			if down {
				n, err := kwok.DeleteAll(c.Context(), kube)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "deleted %d simulated nodes\n", n)
				return proc.Stop(10 * time.Second)
			}
			cache := opts.CacheDir
			if cache == "" {
				cache = local.DefaultCacheDir()
			}
			src := opts.SourceDir
			if src == "" {
				src = "."
			}
			ns, err := kwok.Nodes(nodes, capacity)
			if err != nil {
				return err
			}
			pid, created, err := proc.Up(c.Context(), kube, src, cache, kubeconfig, ns, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "kwok running (pid %d, log %s); %d simulated nodes (%d new), taint %s=%s:NoSchedule\n",
				pid, proc.Log(), nodes, created, kwok.Annotation, kwok.Value)
			return nil
		},
	}
	cmd.Flags().IntVar(&nodes, "nodes", 10, "how many simulated nodes (kwok-node-0..N-1)")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "cluster to add them to (default: the local cluster)")
	cmd.Flags().BoolVar(&down, "down", false, "delete the simulated nodes and stop kwok")
	cmd.Flags().StringVar(&capacity.CPU, "node-cpu", capacity.CPU, "CPU each simulated node offers")
	cmd.Flags().StringVar(&capacity.Memory, "node-memory", capacity.Memory, "memory each simulated node offers")
	cmd.Flags().IntVar(&capacity.Pods, "node-pods", capacity.Pods, "pods each simulated node takes")
	return cmd
}
