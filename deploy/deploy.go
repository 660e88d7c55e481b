// Package deploy puts a scenario's system into a run's namespace: it
// renders the kustomize overlay (sigs.k8s.io/kustomize/api), applies the
// scenario's per-component changes to the rendered workloads, applies
// everything with server-side apply through client-go's dynamic client,
// waits until every workload is rolled out and Ready, and deletes the
// namespace at the end.
package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/workload"
)

// FieldManager is the server-side apply manager of everything perfrun applies.
const FieldManager = "perfrun"

// RunLabel marks a run's namespace (value: the run id), so that strays can
// be found and removed.
const RunLabel = "perfrun.dev/run"

// Render builds the kustomize directory into objects.
func Render(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		// Through JSON, so that numbers are int64/float64 as unstructured
		// helpers expect (kyaml's Map holds plain ints, which their deep
		// copy panics on).
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %s: %w", dir, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("rendering %s: %s: %w", dir, r.CurId(), err)
		}
		out = append(out, u)
	}
	return out, nil
}

// Workloads are the names of the rendered Deployments and StatefulSets.
func Workloads(objs []*unstructured.Unstructured) []string {
	var names []string
	for _, o := range objs {
		if o.GetAPIVersion() == "apps/v1" && (o.GetKind() == "Deployment" || o.GetKind() == "StatefulSet") {
			names = append(names, o.GetName())
		}
	}
	slices.Sort(names)
	return names
}

// Workload is a rendered Deployment or StatefulSet as a preflight sees it.
type Workload struct {
	Kind string // Deployment or StatefulSet
	// Replicas is the most pods it may have: spec.replicas (1 when left
	// out, as Kubernetes defaults it), or the maxReplicas of a rendered
	// HorizontalPodAutoscaler that scales it, when higher.
	Replicas int32
}

// Inventory is every rendered Deployment and StatefulSet by name.
func Inventory(objs []*unstructured.Unstructured) map[string]Workload {
	out := map[string]Workload{}
	for _, o := range objs {
		if o.GetAPIVersion() == "apps/v1" && (o.GetKind() == "Deployment" || o.GetKind() == "StatefulSet") {
			n, ok := intField(o, "spec", "replicas")
			if !ok {
				n = 1
			}
			out[o.GetName()] = Workload{Kind: o.GetKind(), Replicas: int32(n)}
		}
	}
	for _, o := range objs {
		if o.GetKind() != "HorizontalPodAutoscaler" {
			continue
		}
		name, _, _ := unstructured.NestedString(o.Object, "spec", "scaleTargetRef", "name")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "scaleTargetRef", "kind")
		w, ok := out[name]
		if n, set := intField(o, "spec", "maxReplicas"); ok && set && kind == w.Kind && int32(n) > w.Replicas {
			w.Replicas = int32(n)
			out[name] = w
		}
	}
	return out
}

// intField reads an integer that YAML or a typed round trip may have left
// as any of Go's number types.
func intField(o *unstructured.Unstructured, path ...string) (int64, bool) {
	v, ok, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}

// Customize applies the scenario's components to the rendered workloads.
// A component that names no rendered workload is an error naming it.
func Customize(objs []*unstructured.Unstructured, components map[string]scenario.Component) error {
	found := map[string]bool{}
	for _, o := range objs {
		c, ok := components[o.GetName()]
		if !ok || o.GetAPIVersion() != "apps/v1" {
			continue
		}
		var err error
		switch o.GetKind() {
		case "Deployment":
			err = convert(o, &appsv1.Deployment{}, func(d *appsv1.Deployment) error {
				if c.Replicas != nil {
					d.Spec.Replicas = c.Replicas
				}
				return workload.Set(&d.Spec.Template, d.Name, c)
			})
		case "StatefulSet":
			err = convert(o, &appsv1.StatefulSet{}, func(s *appsv1.StatefulSet) error {
				if c.Replicas != nil {
					s.Spec.Replicas = c.Replicas
				}
				return workload.Set(&s.Spec.Template, s.Name, c)
			})
		default:
			continue
		}
		if err != nil {
			return err
		}
		found[o.GetName()] = true
	}
	var missing []string
	for name := range components {
		if !found[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("spec.system.components: %s: no Deployment or StatefulSet of that name in the overlay (it has %s)",
			strings.Join(missing, ", "), strings.Join(Workloads(objs), ", "))
	}
	return nil
}

func convert[T any](o *unstructured.Unstructured, typed *T, f func(*T) error) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, typed); err != nil {
		return fmt.Errorf("reading %s %s: %w", o.GetKind(), o.GetName(), err)
	}
	if err := f(typed); err != nil {
		return err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
	if err != nil {
		return fmt.Errorf("writing %s %s: %w", o.GetKind(), o.GetName(), err)
	}
	// The typed round trip adds empty status and creationTimestamp: null,
	// which server-side apply would then own; drop them.
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(m, "spec", "template", "metadata", "creationTimestamp")
	o.Object = m
	return nil
}

// Images are the images of every rendered workload's containers, for the
// result's versions.
func Images(objs []*unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	for _, o := range objs {
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				name, _ := m["name"].(string)
				img, _ := m["image"].(string)
				out[o.GetName()+"/"+name] = img
			}
		}
	}
	return out
}

// Client is what deploying needs of a cluster.
type Client struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
}

// CreateNamespace creates the run's namespace, labelled with the run id.
func (c *Client) CreateNamespace(ctx context.Context, ns, runID string) error {
	_, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{RunLabel: runID, "app.kubernetes.io/managed-by": "perfrun"}}},
		metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return nil
}

// Apply server-side applies objects into ns (namespaced ones are moved
// into it; cluster-scoped ones are refused, since a run owns only its
// namespace).
func (c *Client) Apply(ctx context.Context, ns string, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("applying %s %s: %w", gvk.Kind, o.GetName(), err)
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			return fmt.Errorf("applying %s %s: cluster-scoped objects are not allowed in a run's overlay", gvk.Kind, o.GetName())
		}
		o.SetNamespace(ns)
		if err := serverSideApply(ctx, c.Dynamic.Resource(m.Resource).Namespace(ns), o); err != nil {
			return err
		}
	}
	return nil
}

// serverSideApply applies o through res as perfrun's field manager, taking
// over fields another manager set.
func serverSideApply(ctx context.Context, res dynamic.ResourceInterface, o *unstructured.Unstructured) error {
	data, err := o.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", o.GetKind(), o.GetName(), err)
	}
	force := true
	if _, err := res.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
		return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
	}
	return nil
}

// WaitReady waits until every named workload is rolled out with all its
// replicas Ready. A pod of the namespace that cannot start (stuck) ends the
// wait at once with its reason; on timeout the error names every workload
// that is not ready.
func (c *Client) WaitReady(ctx context.Context, ns string, names []string, timeout time.Duration) error {
	var (
		waiting []string
		// seen is when each pod was first seen unschedulable or waiting
		// on its config.
		seen  = since{}
		fatal error
	)
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		waiting = waiting[:0]
		for _, n := range names {
			// An error (the API server restarting, a workload not created
			// yet) is waited through like not-ready, until the timeout.
			ok, why, err := workload.Rolled(ctx, c.Kube, ns, n)
			if !ok {
				if why == "" && err != nil {
					why = n + ": " + err.Error()
				}
				waiting = append(waiting, why)
			}
		}
		if len(waiting) == 0 {
			return true, nil
		}
		// A failed list is waited through too; the timeout still names why.
		if list, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
			fatal = stuck(list.Items, seen, time.Now())
		}
		return false, fatal
	})
	switch {
	case err == nil:
		return nil
	case fatal != nil:
		return fatal
	case ctx.Err() != nil:
		return fmt.Errorf("waiting for %s to be ready: %w", strings.Join(names, ", "), ctx.Err())
	}
	msg := fmt.Sprintf("not ready after %s: %s", timeout, strings.Join(waiting, "; "))
	if why := c.podProblems(context.Background(), ns); why != "" {
		msg += "; pods: " + why
	}
	return errors.New(msg)
}

// Waiting reasons of a container that will not start however long the
// wait: the image cannot be had, its name is malformed. Waiting out the
// readiness timeout on them only hides the reason behind "not ready".
var cannotStart = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "ErrImageNeverPull": true,
	"InvalidImageName": true,
}

// configError is the reason of a container whose config (a Secret, a
// ConfigMap or one of their keys) is missing. It is final only after
// ConfigGrace: a ConfigMap applied beside its pods can reach the kubelet's
// cache a moment after the pod does, and the kubelet retries by itself.
const configError = "CreateContainerConfigError"

const (
	// CrashLoopRestarts is how often a container in CrashLoopBackOff must
	// have restarted before the wait gives up on it: a program that exits
	// once or twice because what it needs (Redis) is not up yet comes up
	// on a later try; one that died three times dies by itself.
	CrashLoopRestarts = 3
	// UnschedulableGrace is how long a pod may stay unschedulable before
	// the wait gives up on it: a node still turning Ready, or the pods of
	// a run just torn down freeing their CPU, clear within it.
	UnschedulableGrace = 20 * time.Second
	// ConfigGrace is how long a container may wait on missing config
	// (configError) before the wait gives up on it.
	ConfigGrace = 10 * time.Second
)

// since remembers when a pod was first seen in a state that is final only
// if it lasts (unschedulable, waiting on its config), on this clock (the
// conditions' own times have whole seconds).
type since map[sinceKey]time.Time

type sinceKey struct {
	pod   types.UID
	state string
}

// lasted says how long pod has been in state: since its first sight in
// prev, or from now on. It records the state in next.
func lasted(prev, next since, pod types.UID, state string, now time.Time) time.Duration {
	k := sinceKey{pod, state}
	first, ok := prev[k]
	if !ok {
		first = now
	}
	next[k] = first
	return now.Sub(first)
}

// stuck is the first pod (by name) that cannot start, as an error naming
// the pod, its container and the reason and message Kubernetes gives, or
// nil. seen remembers when each pod was first seen unschedulable or
// waiting on its config (at now); a pod that no longer is is forgotten.
func stuck(pods []corev1.Pod, seen since, now time.Time) error {
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	var found []string
	still := since{} // the states found in this look, with their first sight
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue // being replaced: its successor is what counts
		}
		if why := podStuck(&p, seen, still, now); why != "" {
			found = append(found, why)
		}
	}
	// Forget what is no longer so: its grace starts again if it comes back.
	clear(seen)
	maps.Copy(seen, still)
	switch len(found) {
	case 0:
		return nil
	case 1:
		return errors.New(found[0])
	}
	return fmt.Errorf("%s (and %d more pods that cannot start)", found[0], len(found)-1)
}

func podStuck(p *corev1.Pod, prev, next since, now time.Time) string {
	statuses := append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...)
	for _, st := range statuses {
		w := st.State.Waiting
		if w == nil {
			continue
		}
		final := cannotStart[w.Reason] || (w.Reason == "CrashLoopBackOff" && st.RestartCount >= CrashLoopRestarts)
		if w.Reason == configError {
			final = lasted(prev, next, p.UID, configError+"/"+st.Name, now) >= ConfigGrace
		}
		if final {
			why := fmt.Sprintf("pod %s container %s cannot start: %s", p.Name, st.Name, w.Reason)
			if w.Message != "" {
				why += ": " + strings.TrimSpace(w.Message)
			}
			if t := st.LastTerminationState.Terminated; t != nil && w.Reason == "CrashLoopBackOff" {
				why += fmt.Sprintf(" (restarted %d times, last exit %d %s", st.RestartCount, t.ExitCode, t.Reason)
				if t.Message != "" {
					why += ": " + strings.TrimSpace(t.Message)
				}
				why += ")"
			}
			return why
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type != corev1.PodScheduled || cond.Status != corev1.ConditionFalse || cond.Reason != corev1.PodReasonUnschedulable {
			continue
		}
		if d := lasted(prev, next, p.UID, corev1.PodReasonUnschedulable, now); d >= UnschedulableGrace {
			return fmt.Sprintf("pod %s cannot be scheduled (for %s): %s", p.Name, d.Round(time.Second), strings.TrimSpace(cond.Message))
		}
	}
	return ""
}

// podProblems says why pods are not ready (CrashLoopBackOff with the last
// exit, image not present...), so that a readiness timeout names the cause.
func (c *Client) podProblems(ctx context.Context, ns string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	var out []string
	for _, p := range list.Items {
		for _, st := range p.Status.ContainerStatuses {
			if st.Ready {
				continue
			}
			why := ""
			if w := st.State.Waiting; w != nil {
				why = w.Reason
			}
			if t := st.LastTerminationState.Terminated; t != nil {
				why += fmt.Sprintf(" (last exit %d %s", t.ExitCode, t.Reason)
				if t.Message != "" {
					why += ": " + strings.TrimSpace(t.Message)
				}
				why += ")"
			}
			out = append(out, fmt.Sprintf("%s/%s %s restarts=%d", p.Name, st.Name, strings.TrimSpace(why), st.RestartCount))
		}
		if len(p.Status.ContainerStatuses) == 0 && p.Status.Phase == corev1.PodPending {
			for _, cond := range p.Status.Conditions {
				if cond.Status != corev1.ConditionTrue && cond.Message != "" {
					out = append(out, fmt.Sprintf("%s pending: %s", p.Name, cond.Message))
				}
			}
		}
	}
	return strings.Join(out, "; ")
}

// DeleteNamespace deletes a namespace and waits (bounded) until it is gone,
// so that nothing of it is left (perfrun clean). Its pods are deleted as
// StopNamespace deletes them.
func (c *Client) DeleteNamespace(ctx context.Context, ns string, timeout time.Duration) error {
	return c.deleteNamespace(ctx, ns, timeout, true)
}

// StopNamespace deletes the run's namespace and waits (bounded) until
// nothing of it runs: the namespace is terminating, so that it takes no new
// object (a ReplicaSet or StatefulSet replacing a pod is refused), and none
// of its pods is left. It does not wait for the namespace itself to go: the
// namespace controller starts on it only 5 s after the deletion (its fixed
// namespaceDeletionGracePeriod) and then removes objects that no longer run
// anything; a namespace a finalizer holds is what perfrun clean finds.
//
// The pods are deleted with a grace period of 1 s, not 0: a pod deleted
// with 0 leaves the API at once while its containers still run until the
// kubelet gets to them, so its absence would not say they stopped; with 1 s
// it leaves when the kubelet has stopped its containers (SIGKILL after the
// second). The run's results are already collected: the pods' own grace
// (a worker finishing jobs against a Redis already gone takes all of its
// 30 s) is not waited out.
func (c *Client) StopNamespace(ctx context.Context, ns string, timeout time.Duration) error {
	return c.deleteNamespace(ctx, ns, timeout, false)
}

// podStopGrace is the grace period teardown gives a run's pods (seconds).
const podStopGrace = 1

func (c *Client) deleteNamespace(ctx context.Context, ns string, timeout time.Duration, untilGone bool) error {
	grace, podGrace := int64(0), int64(podStopGrace)
	stopPods := func(ctx context.Context) {
		// Best effort: the namespace goes either way.
		_ = c.Kube.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &podGrace}, metav1.ListOptions{})
	}
	// Retried until the timeout: a teardown must outlast an API server
	// that restarts under it, or the run's namespace is left behind.
	deleted, last := false, error(nil)
	var left []string // pods still there at the last poll
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if !deleted {
			err := c.Kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{GracePeriodSeconds: &grace})
			switch {
			case apierrors.IsNotFound(err):
				return true, nil
			case err != nil:
				last = err
				return false, nil
			}
			deleted = true
			stopPods(ctx)
		}
		if untilGone {
			_, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			last = err
			return apierrors.IsNotFound(err), nil
		}
		pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		left = left[:0]
		again := false
		for _, p := range pods.Items {
			left = append(left, p.Name)
			// Created in the moment before the API saw the namespace
			// terminating.
			again = again || p.DeletionTimestamp == nil
		}
		if again {
			stopPods(ctx)
		}
		return len(left) == 0, nil
	})
	switch {
	case err == nil:
		return nil
	case !deleted:
		return fmt.Errorf("deleting namespace %s: %w", ns, cmp.Or(last, err))
	case untilGone:
		return fmt.Errorf("namespace %s still terminating after %s", ns, timeout)
	case len(left) > 0:
		return fmt.Errorf("namespace %s: pods still there after %s: %s", ns, timeout, strings.Join(left, ", "))
	default:
		return fmt.Errorf("namespace %s: listing its pods: %w", ns, cmp.Or(last, err))
	}
}
