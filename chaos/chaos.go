// Package chaos injects faults into a deployed system while the load runs:
// pod kills (through Chaos Mesh's PodChaos when its CRDs are installed, by a
// direct API delete otherwise) and upgrades
// (a rolling update of components with an optional migration Job before,
// during or after). Every action records which pods or workloads it touched
// and when it started and ended, for the assertions and the report.
//
// Each kind of action is one file (podkill.go, upgrade.go) implementing
// Action, and one row of kinds; its settings, defaults and validation are
// in package scenario (scenario.ActionSpec).
package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// Action is one kind of chaos action, carried out.
type Action interface {
	// Kind is the action's key in the scenario (podKill, upgrade).
	Kind() string
	// Preflight checks the action against the run as it will be deployed,
	// before anything is; its error names the field under p
	// (spec.chaos[N].KIND). An action that changes the system (an upgrade)
	// records the change in plan for the actions after it.
	Preflight(p string, plan *Plan) error
	// Do carries the action out: what it acted on (pods killed, workloads
	// rolled) and its timed parts, also when it fails.
	Do(ctx context.Context, in *Injector) (targets []string, steps []result.ActionStep, err error)
}

// kinds maps each kind of scenario action to its implementation: the one
// place a new kind is wired.
var kinds = map[string]func(scenario.ActionSpec) Action{
	scenario.KindPodKill:    func(s scenario.ActionSpec) Action { return podKill{s.(*scenario.PodKill)} },
	scenario.KindPodFailure: func(s scenario.ActionSpec) Action { return podFailure{s.(*scenario.PodFailure)} },
	scenario.KindUpgrade:    func(s scenario.ActionSpec) Action { return upgrade{s.(*scenario.Upgrade)} },
}

// For is the implementation of the action's kind.
func For(a scenario.Action) (Action, error) {
	sp := a.Spec()
	if sp == nil {
		return nil, errors.New("action has no kind")
	}
	mk, ok := kinds[sp.Kind()]
	if !ok {
		return nil, fmt.Errorf("chaos cannot carry out an action of kind %s", sp.Kind())
	}
	return mk(sp), nil
}

// Plan is the run as preflight sees it, before anything is deployed.
type Plan struct {
	// Repo is the repository root the scenario's paths are relative to.
	Repo     string
	Scenario *scenario.Scenario
	// Workloads are the Deployments and StatefulSets the run will have, by
	// name: spec.system's overlay rendered with its components, then what
	// the actions before (an upgrade) add or scale up.
	Workloads map[string]deploy.Workload
}

// Preflight checks every chaos action of the plan's scenario, in the order
// they fire, and returns the first problem.
func Preflight(plan *Plan) error {
	chaos := plan.Scenario.Spec.Chaos
	order := make([]int, len(chaos))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(chaos[i].At.Duration, chaos[j].At.Duration) })
	for _, i := range order {
		act, err := For(chaos[i])
		if err != nil {
			return fmt.Errorf("spec.chaos[%d]: %w", i, err)
		}
		if err := act.Preflight(fmt.Sprintf("spec.chaos[%d].%s", i, act.Kind()), plan); err != nil {
			return err
		}
	}
	return nil
}

// Injector carries out actions in one namespace: what every action may
// act on.
type Injector struct {
	Client    kubernetes.Interface
	Namespace string
	Clock     clock.PassiveClock
	// Seed makes random picks reproducible when an action has none.
	Seed int64
	// Poll is how often rollouts and Jobs are checked (default 1s).
	Poll time.Duration
	// Dynamic and ChaosMesh: when ChaosMesh is set (HasChaosMesh found the
	// PodChaos CRD), pod kills are PodChaos objects created through Dynamic.
	Dynamic   dynamic.Interface
	ChaosMesh bool
	// Repo, System and Deploy are what an upgrade to another overlay needs:
	// the repository root its path is relative to, the scenario's system
	// (its component settings hold for the new release too), and what
	// applies the rendered objects (a *deploy.Client).
	Repo   string
	System scenario.System
	Deploy Applier
	// PauseImage replaces a podFailure's containers' images when the
	// action names none: the cluster's pod sandbox image, which every node
	// has (default DefaultPauseImage).
	PauseImage string
	// Upgraded, if set, is told the images an upgrade to an overlay
	// applied (WORKLOAD/CONTAINER → image).
	Upgraded func(images map[string]string)
}

// Applier applies rendered objects into a namespace (server-side).
type Applier interface {
	Apply(ctx context.Context, ns string, objs []*unstructured.Unstructured) error
}

func (in *Injector) now() time.Time {
	if in.Clock == nil {
		return time.Now()
	}
	return in.Clock.Now()
}

func (in *Injector) poll() time.Duration {
	if in.Poll == 0 {
		return time.Second
	}
	return in.Poll
}

// Do carries out one action and returns its record; a failed action is an
// event with Error set, never a panic or a lost record.
func (in *Injector) Do(ctx context.Context, a scenario.Action) result.Event {
	ev := result.Event{Name: a.Name, Planned: a.At.Duration, Kind: a.Kind(), Start: in.now()}
	act, err := For(a)
	if err == nil {
		ev.Targets, ev.Steps, err = act.Do(ctx, in)
	}
	if err != nil {
		ev.Error = err.Error()
	}
	ev.End = in.now()
	return ev
}

// Timeline fires actions at their offsets from start, each in its own
// goroutine (an upgrade may still be rolling when a kill is due), and
// returns every event once all have finished or ctx ends. onEvent, if set,
// is called as each action starts (done=false) and ends (done=true).
func Timeline(ctx context.Context, clk clock.Clock, start time.Time, actions []scenario.Action,
	do func(context.Context, scenario.Action) result.Event, onEvent func(ev result.Event, done bool)) []result.Event {
	events := make([]result.Event, len(actions))
	var wg sync.WaitGroup
	for i, a := range actions {
		wg.Go(func() {
			wait := start.Add(a.At.Duration).Sub(clk.Now())
			if wait > 0 {
				t := clk.NewTimer(wait)
				defer t.Stop()
				select {
				case <-ctx.Done():
					events[i] = result.Event{Name: a.Name, Planned: a.At.Duration, Error: "not fired: " + ctx.Err().Error()}
					return
				case <-t.C():
				}
			}
			if onEvent != nil {
				onEvent(result.Event{Name: a.Name, Planned: a.At.Duration, Kind: a.Kind(), Start: clk.Now()}, false)
			}
			ev := do(ctx, a)
			events[i] = ev
			if onEvent != nil {
				onEvent(ev, true)
			}
		})
	}
	wg.Wait()
	return events
}

// Windows turns events into the template's {{.chaos.NAME...}} data.
func Windows(events []result.Event) map[string]scenario.ActionWindow {
	out := map[string]scenario.ActionWindow{}
	for _, e := range events {
		if !e.Start.IsZero() {
			out[e.Name] = scenario.ActionWindow{Start: e.Start, End: e.End, Lasts: scenario.Lasts(e.Kind)}
		}
	}
	return out
}
