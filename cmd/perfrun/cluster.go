package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfrun/perfrun/cluster/kind"
	"github.com/perfrun/perfrun/cluster/local"
	"github.com/perfrun/perfrun/images"
	"github.com/perfrun/perfrun/internal/gotool"
)

// newClusterCmd wires `perfrun cluster up|down|status|build|load` to the
// local cluster provider.
func newClusterCmd() *cobra.Command {
	var opts local.Options
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Manage the local single-node Kubernetes cluster (root, no Docker needed)",
	}
	cmd.PersistentFlags().StringVar(&opts.SourceDir, "source", ".", "the perfrun repository (its tools/ modules are built from here)")
	cmd.PersistentFlags().StringVar(&opts.StateDir, "state-dir", "/var/lib/perfrun/local", "where the cluster keeps its PKI, data, images and logs")
	cmd.PersistentFlags().StringVar(&opts.CacheDir, "cache-dir", local.DefaultCacheDir(), "where built binaries are cached, keyed by version")
	cmd.PersistentFlags().BoolVar(&opts.MetricsServer, "metrics-server", false,
		"build (and, with up, run) metrics-server too; a run whose system has a HorizontalPodAutoscaler adds it by itself")

	cmd.AddCommand(&cobra.Command{
		Use:   "build",
		Short: "Build the cluster's binaries into the cache (up does this when needed)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var extra []gotool.Tool
			if opts.MetricsServer {
				extra = append(extra, local.MetricsServerTool)
			}
			return local.BuildTools(c.Context(), opts.SourceDir, opts.CacheDir, c.OutOrStdout(), extra...)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Bring the local cluster up (idempotent), with Prometheus",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return local.New(opts).Up(c.Context(), c.OutOrStdout())
		},
	})
	var wipe bool
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster and remove everything it made on the host",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return local.New(opts).Down(c.Context(), c.OutOrStdout(), wipe)
		},
	}
	down.Flags().BoolVar(&wipe, "wipe", false, "also remove the state: PKI, etcd data, imported images, logs")
	cmd.AddCommand(down)
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Say what runs and where",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s := local.New(opts).Status(c.Context())
			w := c.OutOrStdout()
			var names []string
			for n := range s.Components {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(w, "%-24s running (pid %d)\n", n, s.Components[n])
			}
			for _, n := range s.Missing {
				fmt.Fprintf(w, "%-24s not running\n", n)
			}
			fmt.Fprintf(w, "node %s ready: %v\napiserver:  %s\nprometheus: %s\nkubeconfig: %s\n  export KUBECONFIG=%s\n",
				local.NodeName, s.NodeReady, s.APIServer, s.Prometheus, s.Kubeconfig, s.Kubeconfig)
			if !s.Up() {
				return fmt.Errorf("cluster not (fully) up: %s not running", strings.Join(s.Missing, ", "))
			}
			return nil
		},
	})
	var tags []string
	load := &cobra.Command{
		Use:   "load",
		Short: "Build the reference system's images (perfrun/<program>:<tag>, perfrun/redis:" + images.RedisTag + ") and import them",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(tags) == 0 {
				return badInput(fmt.Errorf("--tag: at least one tag is needed"))
			}
			cl := local.New(opts)
			outDir := filepath.Join(opts.CacheDir, "system-images")
			for _, tag := range tags {
				built, missing, err := images.System(c.Context(), opts.SourceDir, outDir, tag)
				if err != nil {
					return err
				}
				if len(missing) > 0 {
					fmt.Fprintf(c.ErrOrStderr(), "not in the tree yet, no image: %s\n", strings.Join(missing, ", "))
				}
				var tars []string
				for _, b := range built {
					tars = append(tars, b.Tarball)
					fmt.Fprintf(c.OutOrStdout(), "loading %s\n", b.Ref)
				}
				if err := cl.LoadImages(c.Context(), tars); err != nil {
					return err
				}
			}
			return nil
		},
	}
	load.Flags().StringSliceVar(&tags, "tag", []string{"v1", "v2"}, "image tags to build (one release each)")
	cmd.AddCommand(load)
	cmd.AddCommand(newKwokCmd(&opts))
	cmd.AddCommand(newKindImageCmd(&opts))
	cmd.AddCommand(newKindDownCmd(&opts))
	return cmd
}

// newKindImageCmd wires `perfrun cluster kind-image`: kind's node image
// built offline from Debian's archive and the binaries the cache holds.
func newKindImageCmd(opts *local.Options) *cobra.Command {
	var o kind.NodeImageOptions
	c := &cobra.Command{
		Use:   "kind-image",
		Short: "Build kind's node image (" + kind.NodeImageRepo + ":<version>-<digest>) offline, from Debian packages and perfrun's own Kubernetes build",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Repo, o.CacheDir, o.Log = opts.SourceDir, opts.CacheDir, c.OutOrStdout()
			ref, err := kind.BuildNodeImage(c.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), ref)
			return nil
		},
	}
	c.Flags().StringVar(&o.Crictl, "crictl", "", "the crictl binary to put in the node (sigs.k8s.io/cri-tools; default: crictl on PATH)")
	c.Flags().StringVar(&o.KindModule, "kind-module", "", "kind's module folder (default: $GOMODCACHE/sigs.k8s.io/kind@"+kind.KindVersion+")")
	c.Flags().StringVar(&o.Docker, "docker", "docker", "the docker command (DOCKER_HOST from the environment)")
	return c
}

// newKindDownCmd wires `perfrun cluster kind-down`: perfrun run leaves a
// kind cluster it created up for the next run; this deletes it and puts the
// machine back (routes, kernel settings).
func newKindDownCmd(opts *local.Options) *cobra.Command {
	var o kind.Options
	c := &cobra.Command{
		Use:   "kind-down",
		Short: "Delete the kind cluster perfrun run created, with its routes, and restore the kernel settings its kubelet changed",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Repo = opts.SourceDir
			p, err := kind.New(o)
			if err != nil {
				return badInput(fmt.Errorf("--kind-config: %w", err))
			}
			return p.Delete(c.Context(), c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&o.Name, "kind-cluster", kind.DefaultName, "the kind cluster's name")
	c.Flags().StringVar(&o.Binary, "kind", kind.DefaultBinary, "the kind command")
	return c
}
