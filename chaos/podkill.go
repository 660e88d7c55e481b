package chaos

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/workload"
)

// podKill deletes pods of a component, by Chaos Mesh when the injector
// has it.
type podKill struct{ *scenario.PodKill }

// Preflight implements Action.
func (k podKill) Preflight(p string, plan *Plan) error { return preflightPick(p, k.Pods(), plan) }

// preflightPick checks a pod action's pick against the plan: the
// component is a workload of the run, it has the pods asked for, and an
// ordinal names a StatefulSet's pod.
func preflightPick(p string, k scenario.PodPick, plan *Plan) error {
	w, ok := plan.Workloads[k.Component]
	if !ok {
		return fmt.Errorf("%s.component: no workload %q in the overlay", p, k.Component)
	}
	if k.Ordinal != nil && w.Kind != "StatefulSet" {
		return fmt.Errorf("%s.ordinal: %s is a %s, whose pods have no ordinals (use count or percent)", p, k.Component, w.Kind)
	}
	if field, msg := unmet(k, w.Replicas); msg != "" {
		return fmt.Errorf("%s.%s: %s", p, field, msg)
	}
	return nil
}

// unmet says which field asks for more pods than replicas can give, and
// why; "" when the pick can be carried out.
func unmet(k scenario.PodPick, replicas int32) (field, msg string) {
	n := int(replicas)
	switch {
	case k.Count != nil && *k.Count > n:
		return "count", fmt.Sprintf("asks for %d pods of %s, which has at most %d replicas in this run", *k.Count, k.Component, n)
	case k.Ordinal != nil && *k.Ordinal >= n:
		return "ordinal", fmt.Sprintf("no pod %s-%d: %s has at most %d replicas in this run (ordinals 0..%d)", k.Component, *k.Ordinal, k.Component, n, n-1)
	case k.Percent != nil && n == 0:
		return "percent", fmt.Sprintf("%s has 0 replicas, no pod to act on", k.Component)
	}
	return "", ""
}

// pick lists the component's pods and picks from them.
func pick(ctx context.Context, in *Injector, k scenario.PodPick) ([]corev1.Pod, []string, error) {
	pods, err := workload.Pods(ctx, in.Client, in.Namespace, k.Component)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	picked, err := Pick(names, k, in.Seed)
	return pods, picked, err
}

// Do implements Action.
func (k podKill) Do(ctx context.Context, in *Injector) ([]string, []result.ActionStep, error) {
	pods, picked, err := pick(ctx, in, k.Pods())
	if err != nil {
		return nil, nil, err
	}
	grace := int64(0)
	if k.GracePeriod != nil {
		grace = int64(k.GracePeriod.Seconds())
	}
	if in.ChaosMesh {
		if in.Dynamic == nil {
			return nil, nil, errNoDynamic
		}
		killed, err := in.killWithChaosMesh(ctx, picked, podUIDs(pods), grace)
		return killed, nil, err
	}
	var killed []string
	for _, name := range picked {
		err := in.Client.CoreV1().Pods(in.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		if err != nil {
			return killed, nil, fmt.Errorf("deleting pod %s: %w", name, err)
		}
		killed = append(killed, name)
	}
	return killed, nil, nil
}

// Pick chooses which pods a pod action takes, from pods sorted by name:
// the pod whose name ends in -ORDINAL, or COUNT (or PERCENT, rounded up)
// picked at random with the seed.
func Pick(pods []string, k scenario.PodPick, seed int64) ([]string, error) {
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
		return nil, fmt.Errorf("asked for %d pods of %s, only %d running", n, k.Component, len(pods))
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
