// Package clusters gives the suites their cluster through
// sigs.k8s.io/e2e-framework: an env.Func to set it up (create or reuse it,
// load the reference system's images), an env.Func to tear down what setup
// started, the envconf.Config (and so the klient client) for checks, and the
// cluster.Provider that `perfrun run`'s runner gets. It is only that glue:
// the provider is built by cluster/providers by name, as the CLI builds it:
// local (the embedded cluster, the default), kind, or kubeconfig (any
// existing cluster).
package clusters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/cluster/kind"
	"github.com/perfrun/perfrun/cluster/local"
	"github.com/perfrun/perfrun/cluster/providers"
	"github.com/perfrun/perfrun/images"
)

// Provider names, as -perfrun.provider and PERFRUN_PROVIDER spell them.
const (
	Local      = providers.Local
	Kind       = providers.Kind
	Kubeconfig = providers.Kubeconfig
)

// Options say which cluster the suites run on and how to reach it.
type Options struct {
	// Provider is local, kind or kubeconfig.
	Provider string
	// Repo is the repository root (fixtures/, system/cmd/).
	Repo string
	// ImageTags are the releases whose images are built and loaded (v1, v2).
	ImageTags []string
	// ImageDir receives the built image tarballs.
	ImageDir string
	// Log receives progress.
	Log io.Writer

	// Local: the local cluster's options (state and cache folders).
	Local local.Options

	// Kind: the cluster's name and kind config file.
	KindName   string
	KindConfig string
	// ChaosMeshVersion installs Chaos Mesh with helm (chart version and
	// values file); empty version skips it, and pod kills are API deletes.
	ChaosMeshVersion string
	ChaosMeshValues  string

	// Kubeconfig: an existing cluster, its Prometheus and whether pods are
	// routable from here.
	Kubeconfig    string
	PrometheusURL string
	PodsReachable bool
}

// Env is a chosen cluster: what the suite runs before and after its specs,
// and what it hands the runner.
type Env struct {
	Name   string
	Config *envconf.Config
	// Setup brings the cluster up (or reuses it) and loads images.
	Setup []env.Func
	// Finish tears down what Setup started, and only that: a cluster that
	// was up before the suite stays up.
	Finish []env.Func
	// Provider is what perfrun run's runner gets.
	Provider cluster.Provider
	// key is the name CreateCluster stored the cluster under ("" for an
	// existing cluster, which exports nothing).
	key string
}

// Export returns the env funcs that copy the cluster's logs to dir.
func (e *Env) Export(dir string) []env.Func {
	if e.key == "" {
		return nil
	}
	return []env.Func{envfuncs.ExportClusterLogs(e.key, dir)}
}

// Run runs env funcs in order, stopping at the first error.
func Run(ctx context.Context, cfg *envconf.Config, fns []env.Func) (context.Context, error) {
	for _, f := range fns {
		var err error
		if ctx, err = f(ctx, cfg); err != nil {
			return ctx, err
		}
	}
	return ctx, nil
}

// Select builds the Env of the named provider with cluster/providers. Bad
// options are one error naming the option as the suites spell it
// (-perfrun.<option> and PERFRUN_<OPTION>).
func Select(o Options) (*Env, error) {
	if o.Provider == "" {
		o.Provider = Local
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Repo == "" {
		return nil, errors.New("clusters: Repo is required (the repository root)")
	}
	p, err := providers.New(o.Provider, providers.Options{
		Repo:  o.Repo,
		Local: o.Local,
		Kind: kind.Options{Name: o.KindName, Config: o.KindConfig,
			ChaosMeshVersion: o.ChaosMeshVersion, ChaosMeshValues: o.ChaosMeshValues},
		Kubeconfig: o.Kubeconfig, PrometheusURL: o.PrometheusURL, PodsReachable: o.PodsReachable,
	})
	if err != nil {
		return nil, suiteFlag(err)
	}
	if o.Provider == Kubeconfig {
		// An existing cluster pulls its images from a registry: nothing to
		// set up or tear down but the checks' client.
		return &Env{Name: Kubeconfig, Config: envconf.NewWithKubeConfig(o.Kubeconfig), Provider: p}, nil
	}
	key := o.Provider
	if kp, ok := p.(*kind.Provider); ok {
		key = kp.ClusterName()
	}
	e := &Env{Name: o.Provider, Config: envconf.New(), Provider: p, key: key}
	e.Setup = append([]env.Func{envfuncs.CreateCluster(&E2E{Provider: p, Log: o.Log}, key)}, loadImages(key, o)...)
	e.Finish = []env.Func{envfuncs.DestroyCluster(key)}
	return e, nil
}

// suiteFlag spells a providers.OptionError with the suites' flag and
// environment variable.
func suiteFlag(err error) error {
	var oe *providers.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	env := "PERFRUN_" + strings.ToUpper(strings.ReplaceAll(oe.Option, "-", "_"))
	return fmt.Errorf("-perfrun.%s (%s): %w", oe.Option, env, oe.Err)
}

// loadImages builds the reference system's images for each tag and loads
// them into the cluster that CreateCluster stored under name.
func loadImages(name string, o Options) []env.Func {
	if len(o.ImageTags) == 0 {
		return nil
	}
	return []env.Func{func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		outDir := o.ImageDir
		if outDir == "" {
			outDir = filepath.Join(os.TempDir(), "perfrun-suite-images")
		}
		for _, tag := range o.ImageTags {
			built, missing, err := images.System(ctx, o.Repo, outDir, tag)
			if err != nil {
				return ctx, fmt.Errorf("building images %s: %w", tag, err)
			}
			if len(missing) > 0 {
				return ctx, fmt.Errorf("building images %s: programs missing from the tree: %s", tag, strings.Join(missing, ", "))
			}
			for _, b := range built {
				fmt.Fprintf(o.Log, "loading %s into %s\n", b.Ref, name)
				if ctx, err = envfuncs.LoadImageArchiveToCluster(name, b.Tarball)(ctx, cfg); err != nil {
					return ctx, fmt.Errorf("loading %s: %w", b.Ref, err)
				}
			}
		}
		return ctx, nil
	}}
}

// FromEnv fills o from PERFRUN_* environment variables where o is empty, so
// that make targets and CI can choose without flags.
func FromEnv(o *Options) {
	set := func(dst *string, key string) {
		if *dst == "" {
			*dst = os.Getenv(key)
		}
	}
	set(&o.Provider, "PERFRUN_PROVIDER")
	set(&o.Kubeconfig, "PERFRUN_KUBECONFIG")
	set(&o.PrometheusURL, "PERFRUN_PROMETHEUS_URL")
	set(&o.KindName, "PERFRUN_KIND_NAME")
	set(&o.KindConfig, "PERFRUN_KIND_CONFIG")
	set(&o.ChaosMeshVersion, "PERFRUN_CHAOS_MESH_VERSION")
	set(&o.Local.StateDir, "PERFRUN_STATE_DIR")
	set(&o.Local.CacheDir, "PERFRUN_CACHE")
	if v := os.Getenv("PERFRUN_PODS_REACHABLE"); v != "" && !o.PodsReachable {
		o.PodsReachable = slices.Contains([]string{"1", "true", "yes"}, strings.ToLower(v))
	}
}
