package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/cluster/kwok"
	"github.com/perfrun/perfrun/internal/gotool"
	"github.com/perfrun/perfrun/systems"
	// The third-party systems a scenario's spec.system.source can name.
	_ "github.com/perfrun/perfrun/systems/tekton"
)

// sourceState is what a third-party system (spec.system.source) and its
// simulated nodes left in the cluster, for teardown.
type sourceState struct {
	clusterObjs []*unstructured.Unstructured
	kwok        *kwok.Process
	kwokNodes   bool
}

// prepareSource renders a system perfrun builds from a pinned module and
// builds and loads its images: everything before the namespace exists.
func (r *runState) prepareSource(ctx context.Context) (*systems.Rendered, error) {
	rendered, err := systems.Render(ctx, r.opts.Repo, r.s.Spec.System, r.ns)
	if err != nil {
		return nil, err
	}
	src := rendered.Source
	r.res.Versions[src.Name()] = rendered.Version
	r.p.Linef("%s %s: %d cluster-scoped and %d namespaced objects", src.Name(), rendered.Version, len(rendered.Cluster), len(rendered.Namespaced))
	built, err := src.Images(ctx, r.opts.Repo, r.cacheDir(), rendered.Version, r.p.Writer())
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", src.Name(), rendered.Version, err)
	}
	var tars []string
	for _, b := range built {
		tars = append(tars, b.Tarball)
	}
	if err := r.provider.LoadImages(ctx, tars); err != nil {
		return nil, fmt.Errorf("loading %s's images: %w", src.Name(), err)
	}
	return rendered, nil
}

// installSource puts what the system needs outside the namespace: kwok's
// nodes when asked, and its cluster-scoped objects under the run's label
// (removed by tearDownSource).
func (r *runState) installSource(ctx context.Context, rendered *systems.Rendered) error {
	sys := r.s.Spec.System
	if sys.Kwok != nil {
		if err := r.startKwok(ctx, sys.Kwok.Nodes); err != nil {
			return err
		}
	}
	r.src.clusterObjs = rendered.Cluster
	return r.dc.ApplyCluster(ctx, r.res.RunID, rendered.Cluster, sys.ReadyTimeout.Duration)
}

// startKwok builds kwok when needed and starts it with n simulated nodes;
// its log goes into the result folder.
func (r *runState) startKwok(ctx context.Context, n int) error {
	nodes, err := kwok.Nodes(n, kwok.DefaultCapacity)
	if err != nil {
		return fmt.Errorf("spec.system.kwok.nodes: %w", err)
	}
	proc := &kwok.Process{Dir: filepath.Join(r.dir, "kwok")}
	pid, created, err := proc.Up(ctx, r.kube, r.opts.Repo, r.cacheDir(), r.access.Kubeconfig, nodes, r.p.Writer())
	if pid != 0 {
		r.src.kwok = proc
	}
	if err != nil {
		return err
	}
	// Only nodes this run created are deleted at the end.
	r.src.kwokNodes = created > 0
	r.p.Linef("kwok running (pid %d, log %s): %d simulated nodes", pid, proc.Log(), n)
	return nil
}

// cacheDir is where built programs are kept between runs.
func (r *runState) cacheDir() string {
	if r.opts.CacheDir != "" {
		return r.opts.CacheDir
	}
	return gotool.DefaultCacheDir()
}

// tearDownSource removes what deploySource put outside the namespace,
// after the namespace is gone (its pods and custom resources first).
func (r *runState) tearDownSource(ctx context.Context) error {
	var errs []error
	if len(r.src.clusterObjs) > 0 {
		if err := r.dc.DeleteCluster(ctx, r.res.RunID, r.src.clusterObjs); err != nil {
			errs = append(errs, err)
		}
	}
	if r.src.kwokNodes {
		if _, err := kwok.DeleteAll(ctx, r.kube); err != nil {
			errs = append(errs, err)
		}
	}
	if r.src.kwok != nil {
		if err := r.src.kwok.Stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
