package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/chaos"
	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/systems"
)

// Preflight checks, before anything is deployed, what validation of the
// file alone cannot: the overlay renders, the components it names exist in
// it, each chaos action can be carried out on it (chaos.Preflight), the
// load script and k6 are there. Its errors are bad input (exit 2)
// and name the field.
func Preflight(ctx context.Context, s *scenario.Scenario, repo, k6 string) error {
	objs, err := preflightObjects(ctx, s, repo)
	if err != nil {
		return err
	}
	if err := chaos.Preflight(&chaos.Plan{Repo: repo, Scenario: s, Workloads: deploy.Inventory(objs)}); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, s.Spec.Load.Script)); err != nil {
		return fmt.Errorf("spec.load.script: %w", err)
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
