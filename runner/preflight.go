package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/perfrun/perfrun/chaos"
	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/scenario"
)

// Preflight checks, before anything is deployed, what validation of the
// file alone cannot: the overlay renders, the components it names exist in
// it, each chaos action can be carried out on it (chaos.Preflight), the
// load script and k6 are there. Its errors are bad input (exit 2)
// and name the field.
func Preflight(s *scenario.Scenario, repo, k6 string) error {
	objs, err := deploy.Render(filepath.Join(repo, s.Spec.System.Overlay))
	if err != nil {
		return fmt.Errorf("spec.system.overlay: %w", err)
	}
	if err := deploy.Customize(objs, s.Spec.System.Components); err != nil {
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
