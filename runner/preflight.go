package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/scenario"
)

// Preflight checks, before anything is deployed, what validation of the
// file alone cannot: the overlay renders, the components it names exist in
// it, the load script and k6 are there. Its errors are bad input (exit 2)
// and name the field.
func Preflight(s *scenario.Scenario, repo, k6 string) error {
	objs, err := deploy.Render(filepath.Join(repo, s.Spec.System.Overlay))
	if err != nil {
		return fmt.Errorf("spec.system.overlay: %w", err)
	}
	if err := deploy.Customize(objs, s.Spec.System.Components); err != nil {
		return err
	}
	names := map[string]bool{}
	for _, n := range deploy.Workloads(objs) {
		names[n] = true
	}
	for i, a := range s.Spec.Chaos {
		if a.PodKill != nil && !names[a.PodKill.Component] {
			return fmt.Errorf("spec.chaos[%d].podKill.component: no workload %q in the overlay", i, a.PodKill.Component)
		}
		if u := a.Upgrade; u != nil {
			if u.Overlay != "" {
				up, err := deploy.Render(filepath.Join(repo, u.Overlay))
				if err != nil {
					return fmt.Errorf("spec.chaos[%d].upgrade.overlay: %w", i, err)
				}
				for _, n := range deploy.Workloads(up) {
					names[n] = true
				}
			}
			for c := range u.Components {
				if !names[c] {
					return fmt.Errorf("spec.chaos[%d].upgrade.components.%s: no workload of that name in the overlay", i, c)
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(repo, s.Spec.Load.Script)); err != nil {
		return fmt.Errorf("spec.load.script: %w", err)
	}
	if _, err := os.Stat(k6); err != nil {
		return fmt.Errorf("--k6: %w (build it with make k6)", err)
	}
	return nil
}
