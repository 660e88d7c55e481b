package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/workload"
)

// upgrade rolls the system to another release (an overlay applied over
// it, or components changed in place), running the migration Job when the
// release's procedure says.
type upgrade struct{ *scenario.Upgrade }

// Preflight implements Action: the overlay renders with the scenario's
// components and the upgrade's, and every component it changes is a
// workload of the run. The overlay's workloads (and raised replicas) are
// in plan for the actions after it.
func (u upgrade) Preflight(p string, plan *Plan) error {
	if u.Overlay == "" {
		for _, name := range slices.Sorted(maps.Keys(u.Components)) {
			w, ok := plan.Workloads[name]
			if !ok {
				return fmt.Errorf("%s.components.%s: no workload of that name in the overlay", p, name)
			}
			if r := u.Components[name].Replicas; r != nil && *r > w.Replicas {
				w.Replicas = *r
				plan.Workloads[name] = w
			}
		}
		return nil
	}
	objs, err := deploy.Render(filepath.Join(plan.Repo, u.Overlay))
	if err != nil {
		return fmt.Errorf("%s.overlay: %w", p, err)
	}
	inv := deploy.Inventory(objs)
	for _, name := range slices.Sorted(maps.Keys(u.Components)) {
		if _, ok := inv[name]; !ok {
			return fmt.Errorf("%s.components.%s: no workload of that name in the overlay", p, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(plan.Scenario.Spec.System.Components)) {
		if _, ok := inv[name]; !ok {
			return fmt.Errorf("%s.overlay: no workload %s, which spec.system.components sets (its settings apply to the new release too)", p, name)
		}
	}
	if err := deploy.Customize(objs, u.components(plan.Scenario.Spec.System)); err != nil {
		return fmt.Errorf("%s.overlay: %w", p, err)
	}
	for name, w := range deploy.Inventory(objs) {
		if old, ok := plan.Workloads[name]; ok && old.Replicas > w.Replicas {
			w.Replicas = old.Replicas
		}
		plan.Workloads[name] = w
	}
	return nil
}

// components are what the overlay is customized with: the system's
// components, the upgrade's over them.
func (u upgrade) components(sys scenario.System) map[string]scenario.Component {
	comps := maps.Clone(sys.Components)
	if comps == nil {
		comps = map[string]scenario.Component{}
	}
	for k, v := range u.Components {
		comps[k] = mergeComponent(comps[k], v)
	}
	return comps
}

// mergeComponent is an upgrade's settings of a component over the
// system's: replicas, image and each env key or resource replaced, args
// appended.
func mergeComponent(base, over scenario.Component) scenario.Component {
	out := base
	if over.Replicas != nil {
		out.Replicas = over.Replicas
	}
	if over.Image != "" {
		out.Image = over.Image
	}
	out.Args = append(slices.Clone(base.Args), over.Args...)
	if len(over.Env) > 0 {
		out.Env = maps.Clone(base.Env)
		if out.Env == nil {
			out.Env = map[string]string{}
		}
		maps.Copy(out.Env, over.Env)
	}
	if r := over.Resources; r != nil {
		merged := &scenario.Resources{}
		if base.Resources != nil {
			merged.Requests, merged.Limits = maps.Clone(base.Resources.Requests), maps.Clone(base.Resources.Limits)
		}
		merged.Requests = union(merged.Requests, r.Requests)
		merged.Limits = union(merged.Limits, r.Limits)
		out.Resources = merged
	}
	return out
}

// union is have with set's keys put over it (nil when both are empty).
func union(have, set map[string]string) map[string]string {
	if len(set) == 0 {
		return have
	}
	if have == nil {
		have = map[string]string{}
	}
	maps.Copy(have, set)
	return have
}

// render is the overlay as the upgrade applies it.
func (u upgrade) render(repo string, sys scenario.System) ([]*unstructured.Unstructured, error) {
	objs, err := deploy.Render(filepath.Join(repo, u.Overlay))
	if err != nil {
		return nil, err
	}
	if err := deploy.Customize(objs, u.components(sys)); err != nil {
		return nil, err
	}
	return objs, nil
}

// applyOverlay applies the rendered overlay over the running system and
// returns the workloads to wait for.
func (u upgrade) applyOverlay(ctx context.Context, in *Injector) ([]string, error) {
	if in.Deploy == nil {
		return nil, errors.New("upgrade to an overlay needs Injector.Deploy")
	}
	objs, err := u.render(in.Repo, in.System)
	if err != nil {
		return nil, err
	}
	if in.Upgraded != nil {
		in.Upgraded(deploy.Images(objs))
	}
	if err := in.Deploy.Apply(ctx, in.Namespace, objs); err != nil {
		return nil, err
	}
	return deploy.Workloads(objs), nil
}

// Do implements Action.
func (u upgrade) Do(ctx context.Context, in *Injector) ([]string, []result.ActionStep, error) {
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
	names := slices.Sorted(maps.Keys(u.Components))
	rollout := func() error {
		return step("rollout", func() error {
			if u.Overlay != "" {
				applied, err := u.applyOverlay(ctx, in)
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
	return names, steps, err
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

// Images are the container images the scenario's upgrades roll the system
// to or run as migration Jobs, so that a run can make them available
// before it starts (they are not in the deployed overlay).
func Images(repo string, s *scenario.Scenario) ([]string, error) {
	set := map[string]bool{}
	for i, a := range s.Spec.Chaos {
		u := a.Upgrade
		if u == nil {
			continue
		}
		if u.Overlay != "" {
			objs, err := upgrade{u}.render(repo, s.Spec.System)
			if err != nil {
				return nil, fmt.Errorf("spec.chaos[%d].upgrade.overlay: %w", i, err)
			}
			for _, img := range deploy.Images(objs) {
				set[img] = true
			}
		}
		for _, c := range u.Components {
			if c.Image != "" {
				set[c.Image] = true
			}
		}
		if u.Migration != nil && u.Migration.Image != "" {
			set[u.Migration.Image] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}
