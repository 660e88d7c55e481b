package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/scenario"
)

// plan renders the v2 overlay with the system's components, as
// runner.Preflight does.
func plan(t *testing.T, comps map[string]scenario.Component, actions ...scenario.Action) *Plan {
	t.Helper()
	objs, err := deploy.Render("../fixtures/system/overlays/v2")
	if err != nil {
		t.Fatal(err)
	}
	if err := deploy.Customize(objs, comps); err != nil {
		t.Fatal(err)
	}
	s := &scenario.Scenario{Spec: scenario.Spec{System: scenario.System{Overlay: "fixtures/system/overlays/v2", Components: comps}, Chaos: actions}}
	return &Plan{Repo: "..", Scenario: s, Workloads: deploy.Inventory(objs)}
}

func kill(at time.Duration, k scenario.PodKill) scenario.Action {
	return scenario.Action{Name: "kill", At: scenario.D(at), PodKill: &k}
}

func up(at time.Duration, u scenario.Upgrade) scenario.Action {
	return scenario.Action{Name: "up", At: scenario.D(at), Upgrade: &u}
}

func TestPreflight(t *testing.T) {
	three := map[string]scenario.Component{"controller": {Replicas: ptr(int32(3))}, "worker": {Replicas: ptr(int32(2))}}
	cases := []struct {
		name    string
		comps   map[string]scenario.Component
		actions []scenario.Action
		want    string // "" passes
	}{
		{"ordinal in range", three, []scenario.Action{kill(0, scenario.PodKill{Component: "controller", Ordinal: ptr(2)})}, ""},
		{"count in range", three, []scenario.Action{kill(0, scenario.PodKill{Component: "worker", Count: ptr(2)})}, ""},
		{"percent", three, []scenario.Action{kill(0, scenario.PodKill{Component: "worker", Percent: ptr(100)})}, ""},
		{"unknown component", three, []scenario.Action{kill(0, scenario.PodKill{Component: "nope", Count: ptr(1)})},
			`spec.chaos[0].podKill.component: no workload "nope" in the overlay`},
		{"count above replicas", three, []scenario.Action{kill(0, scenario.PodKill{Component: "worker", Count: ptr(5)})},
			"spec.chaos[0].podKill.count: asks for 5 pods of worker, which has at most 2 replicas"},
		{"ordinal above replicas", three, []scenario.Action{kill(0, scenario.PodKill{Component: "controller", Ordinal: ptr(3)})},
			"spec.chaos[0].podKill.ordinal: no pod controller-3: controller has at most 3 replicas in this run (ordinals 0..2)"},
		{"replicas from the overlay", nil, []scenario.Action{kill(0, scenario.PodKill{Component: "worker", Count: ptr(2)})},
			"spec.chaos[0].podKill.count: asks for 2 pods of worker, which has at most 1 replicas"},
		{"ordinal of a deployment", three, []scenario.Action{kill(0, scenario.PodKill{Component: "worker", Ordinal: ptr(0)})},
			"spec.chaos[0].podKill.ordinal: worker is a Deployment"},
		{"scaled up by an earlier upgrade", three, []scenario.Action{
			kill(30*time.Second, scenario.PodKill{Component: "worker", Count: ptr(4)}),
			up(10*time.Second, scenario.Upgrade{Components: map[string]scenario.Component{"worker": {Replicas: ptr(int32(4))}}}),
		}, ""},
		{"scaled up only after the kill", three, []scenario.Action{
			kill(10*time.Second, scenario.PodKill{Component: "worker", Count: ptr(4)}),
			up(30*time.Second, scenario.Upgrade{Components: map[string]scenario.Component{"worker": {Replicas: ptr(int32(4))}}}),
		}, "spec.chaos[0].podKill.count"},
		{"upgrade component unknown", three, []scenario.Action{up(0, scenario.Upgrade{Components: map[string]scenario.Component{"nope": {Image: "x"}}})},
			"spec.chaos[0].upgrade.components.nope: no workload of that name in the overlay"},
		{"upgrade overlay", three, []scenario.Action{up(0, scenario.Upgrade{Overlay: "fixtures/system/overlays/v1",
			Components: map[string]scenario.Component{"worker": {Replicas: ptr(int32(3))}}})}, ""},
		{"upgrade overlay missing", three, []scenario.Action{up(0, scenario.Upgrade{Overlay: "fixtures/system/overlays/nope"})},
			"spec.chaos[0].upgrade.overlay"},
		{"upgrade overlay lacks a component", three, []scenario.Action{up(0, scenario.Upgrade{Overlay: "fixtures/system/overlays/v1",
			Components: map[string]scenario.Component{"nope": {Image: "x"}}})},
			"spec.chaos[0].upgrade.components.nope: no workload of that name in the overlay"},
		{"no kind", three, []scenario.Action{{Name: "none"}}, "spec.chaos[0]: action has no kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Preflight(plan(t, tc.comps, tc.actions...))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("want it to pass: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("want %q, got %v", tc.want, err)
			}
		})
	}
}

// An upgrade's overlay is rendered with the system's components: a
// later kill sees the replicas the upgrade sets.
func TestPreflightUpgradeOverlayReplicas(t *testing.T) {
	p := plan(t, map[string]scenario.Component{"worker": {Replicas: ptr(int32(2))}},
		up(0, scenario.Upgrade{Overlay: "fixtures/system/overlays/v1", Components: map[string]scenario.Component{"worker": {Replicas: ptr(int32(3))}}}),
		kill(time.Second, scenario.PodKill{Component: "worker", Count: ptr(3)}))
	if err := Preflight(p); err != nil {
		t.Fatal(err)
	}
	if w := p.Workloads["worker"]; w.Replicas != 3 {
		t.Errorf("worker after the upgrade: %+v", w)
	}
}
