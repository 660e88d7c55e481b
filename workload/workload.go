// Package workload is what the run knows about a component: the Deployment
// or StatefulSet named after it, how to change its pods (image, args, env,
// resources, replicas), how to find its pods, and when a rollout has finished.
package workload

import (
	"context"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/perfrun/perfrun/scenario"
)

// Set changes a pod template as a scenario component says: the image of
// the component's container (the one named like the component, else the
// first), args appended (Go flag parsing lets a later -flag=v override an
// earlier one), env set, resources merged by name. Replicas are the
// workload's, set by the caller.
func Set(tmpl *corev1.PodTemplateSpec, component string, c scenario.Component) error {
	cs := tmpl.Spec.Containers
	if len(cs) == 0 {
		return fmt.Errorf("component %s: pod template has no containers", component)
	}
	i := slices.IndexFunc(cs, func(x corev1.Container) bool { return x.Name == component })
	if i < 0 {
		i = 0
	}
	ct := &cs[i]
	if c.Image != "" {
		ct.Image = c.Image
	}
	ct.Args = append(ct.Args, c.Args...)
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		j := slices.IndexFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == k })
		if j >= 0 {
			ct.Env[j] = corev1.EnvVar{Name: k, Value: c.Env[k]}
		} else {
			ct.Env = append(ct.Env, corev1.EnvVar{Name: k, Value: c.Env[k]})
		}
	}
	if r := c.Resources; r != nil {
		var err error
		if ct.Resources.Requests, err = mergeQuantities(ct.Resources.Requests, r.Requests); err != nil {
			return fmt.Errorf("component %s: resources.requests: %w", component, err)
		}
		if ct.Resources.Limits, err = mergeQuantities(ct.Resources.Limits, r.Limits); err != nil {
			return fmt.Errorf("component %s: resources.limits: %w", component, err)
		}
	}
	return nil
}

// mergeQuantities sets each named quantity over the list the overlay has.
func mergeQuantities(have corev1.ResourceList, set map[string]string) (corev1.ResourceList, error) {
	if len(set) == 0 {
		return have, nil
	}
	out := corev1.ResourceList{}
	maps.Copy(out, have)
	for _, name := range slices.Sorted(maps.Keys(set)) {
		q, err := resource.ParseQuantity(set[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}

// Image is the image of the component's container in a pod template.
func Image(tmpl *corev1.PodTemplateSpec, component string) string {
	for _, c := range tmpl.Spec.Containers {
		if c.Name == component {
			return c.Image
		}
	}
	if len(tmpl.Spec.Containers) > 0 {
		return tmpl.Spec.Containers[0].Image
	}
	return ""
}

// Update changes the named workload (Deployment, else StatefulSet) in
// place, retrying on conflicts, and returns its kind.
func Update(ctx context.Context, cs kubernetes.Interface, ns, name string, c scenario.Component) (string, error) {
	kind := ""
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			kind = "Deployment"
			if err := Set(&d.Spec.Template, name, c); err != nil {
				return err
			}
			if c.Replicas != nil {
				d.Spec.Replicas = c.Replicas
			}
			_, err = cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "perfrun"})
			return err
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("no Deployment or StatefulSet named %s in %s", name, ns)
			}
			return err
		}
		kind = "StatefulSet"
		if err := Set(&s.Spec.Template, name, c); err != nil {
			return err
		}
		if c.Replicas != nil {
			s.Spec.Replicas = c.Replicas
		}
		_, err = cs.AppsV1().StatefulSets(ns).Update(ctx, s, metav1.UpdateOptions{FieldManager: "perfrun"})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("updating %s: %w", name, err)
	}
	return kind, nil
}

// Rolled says whether the named workload has finished rolling out: every
// replica updated and ready, no old ones left. The string says what it
// waits for when not.
func Rolled(ctx context.Context, cs kubernetes.Interface, ns, name string) (bool, string, error) {
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return deploymentRolled(d)
	}
	if !apierrors.IsNotFound(err) {
		return false, "", err
	}
	s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, "", fmt.Errorf("getting workload %s: %w", name, err)
	}
	return statefulSetRolled(s)
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func deploymentRolled(d *appsv1.Deployment) (bool, string, error) {
	want := replicas(d.Spec.Replicas)
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return false, fmt.Sprintf("deployment %s: generation %d not observed yet", d.Name, d.Generation), nil
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("deployment %s: %d/%d replicas updated", d.Name, st.UpdatedReplicas, want), nil
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("deployment %s: %d old replicas still running", d.Name, st.Replicas-st.UpdatedReplicas), nil
	case st.AvailableReplicas < want || st.ReadyReplicas < want:
		return false, fmt.Sprintf("deployment %s: %d/%d replicas ready", d.Name, st.ReadyReplicas, want), nil
	}
	return true, "", nil
}

func statefulSetRolled(s *appsv1.StatefulSet) (bool, string, error) {
	want := replicas(s.Spec.Replicas)
	st := s.Status
	switch {
	case st.ObservedGeneration < s.Generation:
		return false, fmt.Sprintf("statefulset %s: generation %d not observed yet", s.Name, s.Generation), nil
	case st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision && st.UpdatedReplicas < want:
		return false, fmt.Sprintf("statefulset %s: %d/%d replicas updated", s.Name, st.UpdatedReplicas, want), nil
	case st.ReadyReplicas < want:
		return false, fmt.Sprintf("statefulset %s: %d/%d replicas ready", s.Name, st.ReadyReplicas, want), nil
	}
	return true, "", nil
}

// Pods lists the running, not terminating pods of the named workload,
// sorted by name.
func Pods(ctx context.Context, cs kubernetes.Interface, ns, name string) ([]corev1.Pod, error) {
	var sel *metav1.LabelSelector
	if d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		sel = d.Spec.Selector
	} else if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("getting deployment %s: %w", name, err)
	} else if s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		sel = s.Spec.Selector
	} else if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("no Deployment or StatefulSet named %s in %s", name, ns)
	} else {
		return nil, fmt.Errorf("getting statefulset %s: %w", name, err)
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("selector of %s: %w", name, err)
	}
	if ls.Empty() {
		ls = labels.Nothing()
	}
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: ls.String()})
	if err != nil {
		return nil, fmt.Errorf("listing pods of %s: %w", name, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b corev1.Pod) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out, nil
}
