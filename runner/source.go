package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/cluster/kwok"
	"github.com/perfrun/perfrun/deploy"
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

// deploySource deploys a system perfrun builds from a pinned module: its
// images built and loaded, its cluster-scoped objects applied under the
// run's label, kwok's nodes started when asked, then the namespaced
// objects, and a wait until the system serves.
func (r *runState) deploySource(ctx context.Context) error {
	sys := r.s.Spec.System
	rendered, err := systems.Render(ctx, r.opts.Repo, sys, r.ns)
	if err != nil {
		return err
	}
	src := rendered.Source
	r.res.Versions[src.Name()] = rendered.Version
	r.p.Linef("%s %s: %d cluster-scoped and %d namespaced objects", src.Name(), rendered.Version, len(rendered.Cluster), len(rendered.Namespaced))
	built, err := src.Images(ctx, r.opts.Repo, r.cacheDir(), rendered.Version, r.p.Writer())
	if err != nil {
		return fmt.Errorf("building %s %s: %w", src.Name(), rendered.Version, err)
	}
	var tars []string
	for _, b := range built {
		tars = append(tars, b.Tarball)
	}
	if err := r.provider.LoadImages(ctx, tars); err != nil {
		return fmt.Errorf("loading %s's images: %w", src.Name(), err)
	}
	for k, v := range deploy.Images(rendered.Namespaced) {
		r.res.Versions[k] = v
	}
	if err := r.dc.CreateNamespace(ctx, r.ns, r.res.RunID); err != nil {
		return err
	}
	r.nsMade = true
	r.p.Linef("namespace %s", r.ns)
	if sys.Kwok != nil {
		if err := r.startKwok(ctx, sys.Kwok.Nodes); err != nil {
			return err
		}
	}
	r.src.clusterObjs = rendered.Cluster
	if err := r.dc.ApplyCluster(ctx, r.res.RunID, rendered.Cluster, sys.ReadyTimeout.Duration); err != nil {
		return err
	}
	if err := r.dc.Apply(ctx, r.ns, rendered.Namespaced); err != nil {
		return err
	}
	if err := r.dc.WaitReady(ctx, r.ns, deploy.Workloads(rendered.Namespaced), sys.ReadyTimeout.Duration); err != nil {
		return err
	}
	if err := src.WaitServing(ctx, r.dc, r.ns, sys.ReadyTimeout.Duration); err != nil {
		return err
	}
	return r.dc.WaitEndpoints(ctx, r.ns, sys.ReadyTimeout.Duration)
}

// startKwok builds kwok when needed and starts it with n simulated nodes;
// its log goes into the result folder.
func (r *runState) startKwok(ctx context.Context, n int) error {
	cache := r.cacheDir()
	if !kwok.Tool.Built(cache) {
		if err := kwok.Tool.Build(ctx, r.opts.Repo, cache, r.p.Writer()); err != nil {
			return err
		}
	}
	nodes, err := kwok.Nodes(n, kwok.DefaultCapacity)
	if err != nil {
		return fmt.Errorf("spec.system.kwok.nodes: %w", err)
	}
	proc := &kwok.Process{Dir: filepath.Join(r.dir, "kwok")}
	pid, err := proc.Start(filepath.Join(kwok.Tool.Dir(cache), "kwok"), r.access.Kubeconfig)
	if err != nil {
		return err
	}
	r.src.kwok = proc
	created, err := kwok.Apply(ctx, r.kube, nodes)
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
