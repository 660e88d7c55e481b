package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/cluster/providers"
	"github.com/perfrun/perfrun/deploy"
)

// newCleanCmd wires `perfrun clean`: what killed runs left in the cluster
// (deploy.FindStrays), listed and removed.
func newCleanCmd() *cobra.Command {
	var (
		repo      string
		provider  string
		popts     providers.Options
		dryRun    bool
		olderThan time.Duration
		timeout   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "List and remove what perfrun runs left in the cluster (namespaces, Chaos Mesh objects, Jobs, cluster-scoped objects), by perfrun's labels",
		Long: `Find what runs that did not finish their teardown left in the cluster, by the labels
perfrun puts on what it creates, and remove it: run namespaces and cluster-scoped
objects labelled perfrun.dev/run, Chaos Mesh objects and Jobs labelled
app.kubernetes.io/managed-by=perfrun or perfrun.dev/testid. The cluster is the one
perfrun run reaches with the same flags; clean never starts or creates one.
A run in progress carries the same labels: on a shared cluster, --older-than.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if olderThan < 0 {
				return badInput(fmt.Errorf("--older-than %s: want a duration ≥ 0", olderThan))
			}
			if timeout <= 0 {
				return badInput(fmt.Errorf("--timeout %s: want a duration > 0", timeout))
			}
			popts.Repo, popts.APIServerOnly = repo, true
			p, err := providers.New(provider, popts)
			if err != nil {
				return badInput(providerFlag(err))
			}
			ex, ok := p.(cluster.Existing)
			if !ok {
				return badInput(fmt.Errorf("--provider %s: cannot reach its cluster without starting it", provider))
			}
			ctx := c.Context()
			kc, err := ex.ExistingKubeconfig(ctx)
			if err != nil {
				return fmt.Errorf("cluster %s: %w", p.Name(), err)
			}
			dc, err := deployClient(kc)
			if err != nil {
				return err
			}
			strays, err := dc.FindStrays(ctx, olderThan, time.Now())
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			if len(strays) == 0 {
				fmt.Fprintln(out, "nothing left by perfrun runs")
				return nil
			}
			verb := "removing"
			if dryRun {
				verb = "would remove"
			}
			for _, s := range strays {
				fmt.Fprintf(out, "%s %s\n", verb, s)
			}
			if dryRun {
				fmt.Fprintf(out, "%d object(s); run without --dry-run to remove them\n", len(strays))
				return nil
			}
			removed := 0
			err = dc.RemoveStrays(ctx, strays, timeout, func(deploy.Stray) { removed++ })
			fmt.Fprintf(out, "removed %d of %d object(s)\n", removed, len(strays))
			if err != nil {
				return fmt.Errorf("clean: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", ".", "the perfrun repository (the kind provider's default config is under it)")
	f.BoolVar(&dryRun, "dry-run", false, "only list what would be removed")
	f.DurationVar(&olderThan, "older-than", 0, "only what was created at least this long ago (a run in progress has the same labels)")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for each namespace to be gone")
	providerFlags(f, &provider, &popts)
	return cmd
}

// deployClient is a deploy.Client for the cluster of a kubeconfig.
func deployClient(kubeconfig string) (*deploy.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	if _, err := kube.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("reaching the API server of %s: %w", kubeconfig, err)
	}
	return &deploy.Client{Kube: kube, Dynamic: dyn}, nil
}
