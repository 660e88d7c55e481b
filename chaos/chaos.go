// Package chaos injects faults into a deployed system while the load runs:
// pod kills (through Chaos Mesh's PodChaos when its CRDs are installed, by a
// direct API delete otherwise) and upgrades
// (a rolling update of components with an optional migration Job before,
// during or after). Every action records which pods or workloads it touched
// and when it started and ended, for the assertions and the report.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/workload"
)

// Kinds of action.
const (
	KindPodKill = "podKill"
	KindUpgrade = "upgrade"
)

// Injector carries out actions in one namespace.
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
	// ApplyOverlay applies an upgrade's overlay over the deployed system and
	// returns the workloads to wait for; the run provides it (rendering and
	// server-side apply live in package deploy).
	ApplyOverlay func(ctx context.Context, u scenario.Upgrade) ([]string, error)
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
	ev := result.Event{Name: a.Name, Planned: a.At.Duration, Start: in.now()}
	switch {
	case a.PodKill != nil:
		ev.Kind = KindPodKill
		ev.Targets, ev.Error = errString(in.podKill(ctx, *a.PodKill))
	case a.Upgrade != nil:
		ev.Kind = KindUpgrade
		ev.Targets, ev.Steps, ev.Error = in.upgrade(ctx, *a.Upgrade)
	default:
		ev.Error = "action has no kind"
	}
	ev.End = in.now()
	return ev
}

func errString[T any](v T, err error) (T, string) {
	if err != nil {
		return v, err.Error()
	}
	return v, ""
}

// Pick chooses which pods a podKill takes, from pods sorted by name:
// the pod whose name ends in -ORDINAL, or COUNT (or PERCENT, rounded up)
// picked at random with the seed.
func Pick(pods []string, k scenario.PodKill, seed int64) ([]string, error) {
	if len(pods) == 0 {
		return nil, fmt.Errorf("component %s has no running pods", k.Component)
	}
	switch {
	case k.Ordinal != nil:
		want := fmt.Sprintf("%s-%d", k.Component, *k.Ordinal)
		if slices.Contains(pods, want) {
			return []string{want}, nil
		}
		return nil, fmt.Errorf("no running pod %s (ordinal %d) among %v", want, *k.Ordinal, pods)
	}
	n := 1
	if k.Count != nil {
		n = *k.Count
	}
	if k.Percent != nil {
		n = int(math.Ceil(float64(len(pods)) * float64(*k.Percent) / 100))
	}
	if n > len(pods) {
		return nil, fmt.Errorf("asked to kill %d pods of %s, only %d running", n, k.Component, len(pods))
	}
	if k.Seed != nil {
		seed = *k.Seed
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	shuffled := slices.Clone(pods)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	picked := shuffled[:n]
	slices.Sort(picked)
	return picked, nil
}

func (in *Injector) podKill(ctx context.Context, k scenario.PodKill) ([]string, error) {
	pods, err := workload.Pods(ctx, in.Client, in.Namespace, k.Component)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	picked, err := Pick(names, k, in.Seed)
	if err != nil {
		return nil, err
	}
	grace := int64(0)
	if k.GracePeriod != nil {
		grace = int64(k.GracePeriod.Seconds())
	}
	if in.ChaosMesh {
		if in.Dynamic == nil {
			return nil, errNoDynamic
		}
		return in.killWithChaosMesh(ctx, picked, podUIDs(pods), grace)
	}
	var killed []string
	for _, name := range picked {
		err := in.Client.CoreV1().Pods(in.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		if err != nil {
			return killed, fmt.Errorf("deleting pod %s: %w", name, err)
		}
		killed = append(killed, name)
	}
	return killed, nil
}

// upgrade rolls the components, running the migration Job when the
// release's procedure says.
func (in *Injector) upgrade(ctx context.Context, u scenario.Upgrade) ([]string, []result.ActionStep, string) {
	ctx, cancel := context.WithTimeout(ctx, u.Timeout.Duration)
	defer cancel()
	var (
		mu    sync.Mutex
		steps []result.ActionStep
	)
	step := func(name string, f func() error) error {
		s := result.ActionStep{Name: name, Start: in.now()}
		err := f()
		s.End = in.now()
		if err != nil {
			s.Error = err.Error()
		}
		mu.Lock()
		steps = append(steps, s)
		mu.Unlock()
		return err
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range u.Components {
			if !yield(n) {
				return
			}
		}
	})
	rollout := func() error {
		return step("rollout", func() error {
			if u.Overlay != "" {
				if in.ApplyOverlay == nil {
					return errors.New("upgrade to an overlay needs ApplyOverlay")
				}
				applied, err := in.ApplyOverlay(ctx, u)
				if err != nil {
					return fmt.Errorf("applying %s: %w", u.Overlay, err)
				}
				names = applied
			} else {
				for _, n := range names {
					if _, err := workload.Update(ctx, in.Client, in.Namespace, n, u.Components[n]); err != nil {
						return err
					}
				}
			}
			for _, n := range names {
				if err := in.waitRolled(ctx, n); err != nil {
					return err
				}
			}
			return nil
		})
	}
	migrate := func() error {
		return step("migration", func() error { return in.runJob(ctx, u.Migration) })
	}
	var err error
	switch m := u.Migration; {
	case m == nil:
		err = rollout()
	case m.When == scenario.MigrateBefore:
		if err = migrate(); err == nil {
			err = rollout()
		}
	case m.When == scenario.MigrateAfter:
		if err = rollout(); err == nil {
			err = migrate()
		}
	default: // during: both at once
		var wg sync.WaitGroup
		var merr error
		wg.Go(func() { merr = migrate() })
		err = rollout()
		wg.Wait()
		if err == nil {
			err = merr
		}
	}
	if err != nil {
		return names, steps, err.Error()
	}
	return names, steps, ""
}

func (in *Injector) waitRolled(ctx context.Context, name string) error {
	last := ""
	for {
		ok, why, err := workload.Rolled(ctx, in.Client, in.Namespace, name)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("rollout of %s not finished: %s: %w", name, last, ctx.Err())
		case <-time.After(in.poll()):
		}
	}
}

// runJob runs the migration as a Job and waits for it to succeed.
func (in *Injector) runJob(ctx context.Context, m *scenario.Migration) error {
	backoff := int32(0)
	ttl := int32(600)
	env := make([]corev1.EnvVar, 0, len(m.Env))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m.Env {
			if !yield(k) {
				return
			}
		}
	}) {
		env = append(env, corev1.EnvVar{Name: k, Value: m.Env[k]})
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "perfrun-migration-", Namespace: in.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "perfrun", "app.kubernetes.io/component": "migration"}},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "migrate", Image: m.Image, ImagePullPolicy: corev1.PullIfNotPresent,
					Command: m.Command, Args: m.Args, Env: env}},
			}},
		},
	}
	created, err := in.Client.BatchV1().Jobs(in.Namespace).Create(ctx, job, metav1.CreateOptions{FieldManager: "perfrun"})
	if err != nil {
		return fmt.Errorf("creating migration job: %w", err)
	}
	for {
		j, err := in.Client.BatchV1().Jobs(in.Namespace).Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("getting migration job %s: %w", created.Name, err)
		}
		for _, c := range j.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				return nil
			case batchv1.JobFailed:
				return fmt.Errorf("migration job %s failed: %s", j.Name, c.Message)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migration job %s not finished: %w", created.Name, ctx.Err())
		case <-time.After(in.poll()):
		}
	}
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
				onEvent(result.Event{Name: a.Name, Planned: a.At.Duration, Kind: kindOf(a), Start: clk.Now()}, false)
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

func kindOf(a scenario.Action) string {
	switch {
	case a.PodKill != nil:
		return KindPodKill
	case a.Upgrade != nil:
		return KindUpgrade
	}
	return ""
}

// Windows turns events into the template's {{.chaos.NAME...}} data.
func Windows(events []result.Event) map[string]scenario.ActionWindow {
	out := map[string]scenario.ActionWindow{}
	for _, e := range events {
		if !e.Start.IsZero() {
			out[e.Name] = scenario.ActionWindow{Start: e.Start, End: e.End}
		}
	}
	return out
}
