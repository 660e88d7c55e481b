package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/chaos"
	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/report"
	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/systems"
)

// Preflight checks, before anything is deployed, what validation of the
// file alone cannot: every PromQL query perfrun builds for the assertions
// and the report parses, the overlay renders, the components it names
// exist in it, each chaos action can be carried out on it (chaos.Preflight:
// a podKill's count or ordinal against the replicas), the load script is
// there and, unless k6 is "" (perfrun run --validate, which runs nothing),
// so is k6. It fills what the file leaves to the overlay (the killed
// component's replicas of a disruption). Its errors are bad input (exit 2)
// and name the field.
func Preflight(ctx context.Context, s *scenario.Scenario, repo, k6 string) error {
	if err := assertions.CheckQueries(s); err != nil {
		return err
	}
	for _, q := range report.Queries(s.Spec.System.Metrics) {
		e, err := scenario.Expand(q.Query, scenario.SampleWindow(s))
		if err == nil {
			err = scenario.CheckPromQL(e)
		}
		if err != nil {
			return fmt.Errorf("spec.system.metrics: the report's %s query written from it: %w (query %s)", q.Name, err, e)
		}
	}
	objs, err := preflightObjects(ctx, s, repo)
	if err != nil {
		return err
	}
	inv := deploy.Inventory(objs)
	if err := s.FillReplicas(func(c string) (int32, bool) { w, ok := inv[c]; return w.Replicas, ok }); err != nil {
		return err
	}
	if err := assertions.CheckWorkloads(s, deploy.Workloads(objs)); err != nil {
		return err
	}
	if err := chaos.Preflight(&chaos.Plan{Repo: repo, Scenario: s, Workloads: inv}); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, s.Spec.Load.Script)); err != nil {
		return fmt.Errorf("spec.load.script: %w", err)
	}
	if k6 == "" {
		return nil
	}
	if _, err := os.Stat(k6); err != nil {
		return fmt.Errorf("--k6: %w (build it with make k6)", err)
	}
	return nil
}

// preflightObjects renders the scenario's system as a run would: the
// overlay alone, or a third-party system's overlay over its staged release.
func preflightObjects(ctx context.Context, s *scenario.Scenario, repo string) ([]*unstructured.Unstructured, error) {
	sys := s.Spec.System
	if sys.Source != nil {
		r, err := systems.Render(ctx, repo, sys, "perfrun-preflight")
		if err != nil {
			return nil, err
		}
		return append(r.Namespaced, r.Cluster...), nil
	}
	objs, err := deploy.Render(filepath.Join(repo, sys.Overlay))
	if err != nil {
		return nil, fmt.Errorf("spec.system.overlay: %w", err)
	}
	if err := deploy.Customize(objs, sys.Components); err != nil {
		return nil, err
	}
	return objs, nil
}
