package deploy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/perfrun/perfrun/scenario"
)

func ptr[T any](v T) *T { return &v }

// TestRenderCustomizeFixtures renders the real v2 overlay with kustomize and
// applies a scenario's component changes to it.
func TestRenderCustomizeFixtures(t *testing.T) {
	objs, err := Render("../fixtures/system/overlays/v2")
	if err != nil {
		t.Fatal(err)
	}
	names := Workloads(objs)
	for _, want := range []string{"controller", "listener", "worker"} {
		if !slices.Contains(names, want) {
			t.Fatalf("workloads %v lack %s", names, want)
		}
	}
	err = Customize(objs, map[string]scenario.Component{
		"controller": {Replicas: ptr(int32(3))},
		"worker": {Replicas: ptr(int32(2)), Image: "perfrun/worker:test", Args: []string{"-concurrency=4"}, Env: map[string]string{"X": "1"},
			Resources: &scenario.Resources{Limits: map[string]string{"cpu": "50m"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o.GetName() {
		case "controller":
			if o.GetKind() == "Service" {
				continue
			}
			if r, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas"); r != 3 || o.GetKind() != "StatefulSet" {
				t.Errorf("controller replicas %d kind %s", r, o.GetKind())
			}
		case "worker":
			if o.GetKind() != "Deployment" {
				continue
			}
			if r, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas"); r != 2 {
				t.Errorf("worker replicas %d", r)
			}
			img := Images([]*unstructured.Unstructured{o})["worker/worker"]
			if img != "perfrun/worker:test" {
				t.Errorf("worker image %q", img)
			}
			if _, ok, _ := unstructured.NestedMap(o.Object, "status"); ok {
				t.Error("status must not be applied")
			}
			b, _ := o.MarshalJSON()
			if !strings.Contains(string(b), `"-concurrency=4"`) || !strings.Contains(string(b), `"name":"X"`) {
				t.Errorf("args/env not applied: %s", b)
			}
			// The limit is added; the overlay's request is kept.
			if !strings.Contains(string(b), `"limits":{"cpu":"50m"}`) || !strings.Contains(string(b), `"requests":{"cpu":"100m"`) {
				t.Errorf("resources not merged: %s", b)
			}
		}
	}
	err = Customize(objs, map[string]scenario.Component{"nope": {Replicas: ptr(int32(1))}})
	if err == nil || !strings.Contains(err.Error(), "spec.system.components: nope") {
		t.Errorf("unknown component: %v", err)
	}
}

func TestRenderMissingOverlay(t *testing.T) {
	if _, err := Render("../fixtures/system/overlays/does-not-exist"); err == nil {
		t.Error("rendering a missing overlay must fail")
	}
}

// Rendered objects hold JSON numbers (int64), so unstructured's helpers
// (which deep-copy) work on them: Images read the containers' ports too.
func TestRenderedObjectsAreDeepCopyable(t *testing.T) {
	objs, err := Render("../fixtures/system/overlays/v2")
	if err != nil {
		t.Fatal(err)
	}
	if imgs := Images(objs); len(imgs) == 0 {
		t.Fatal("no images")
	}
	for _, o := range objs {
		_ = o.DeepCopy()
	}
}

func TestWaitReadyNamesTheCause(t *testing.T) {
	replicas := int32(1)
	kube := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: "ns", Generation: 1},
			Spec:   appsv1.DeploymentSpec{Replicas: &replicas},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "worker-abc", Namespace: "ns"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "worker", RestartCount: 1,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}},
			}}}},
	)
	c := &Client{Kube: kube}
	err := c.WaitReady(context.Background(), "ns", []string{"worker"}, 1500*time.Millisecond)
	for _, want := range []string{"deployment worker: 0/1 replicas ready", "worker-abc/worker CrashLoopBackOff (last exit 2 Error) restarts=1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// A teardown outlasts an API server that refuses a few calls.
func TestDeleteNamespaceRetries(t *testing.T) {
	kube := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "perfrun-x"}})
	fails := 2
	kube.PrependReactor("delete", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fails > 0 {
			fails--
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	c := &Client{Kube: kube}
	if err := c.DeleteNamespace(context.Background(), "perfrun-x", 10*time.Second); err != nil {
		t.Fatalf("delete with two refused calls: %v", err)
	}
	if _, err := kube.CoreV1().Namespaces().Get(context.Background(), "perfrun-x", metav1.GetOptions{}); err == nil {
		t.Error("namespace still there")
	}
	// The pods go after a second, not after their own grace periods.
	var podsDeleted bool
	for _, a := range kube.Actions() {
		if dc, ok := a.(k8stesting.DeleteCollectionActionImpl); ok && a.GetResource().Resource == "pods" && a.GetNamespace() == "perfrun-x" {
			g := dc.DeleteOptions.GracePeriodSeconds
			podsDeleted = g != nil && *g == podStopGrace
		}
	}
	if !podsDeleted {
		t.Errorf("the namespace's pods were not deleted with grace period %d", podStopGrace)
	}
	fails = 1000
	kube = fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "perfrun-y"}})
	kube.PrependReactor("delete", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	c = &Client{Kube: kube}
	if err := c.DeleteNamespace(context.Background(), "perfrun-y", 1500*time.Millisecond); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("an API that never answers: %v", err)
	}
}

// StopNamespace returns once the namespace is terminating and holds no
// pods, without waiting for the namespace to go; a pod that does not go
// (held here by a finalizer) is its error, named.
func TestStopNamespace(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "perfrun-s"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "worker-0", Namespace: "perfrun-s"}}
	kube := fake.NewClientset(ns, pod)
	// The namespace stays (terminating), as the namespace controller
	// leaves it for its first 5 s.
	kube.PrependReactor("delete", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, nil
	})
	// The fake's delete-collection deletes nothing: the kubelet's part.
	kube.PrependReactor("delete-collection", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, kube.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), a.GetNamespace(), "worker-0")
	})
	c := &Client{Kube: kube}
	if err := c.StopNamespace(context.Background(), "perfrun-s", 5*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := kube.CoreV1().Pods("perfrun-s").Get(context.Background(), "worker-0", metav1.GetOptions{}); err == nil {
		t.Error("pod still there")
	}

	kube = fake.NewClientset(ns, pod)
	kube.PrependReactor("delete-collection", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, nil // held
	})
	c = &Client{Kube: kube}
	err := c.StopNamespace(context.Background(), "perfrun-s", time.Second)
	if err == nil || !strings.Contains(err.Error(), "pods still there after 1s: worker-0") {
		t.Errorf("a pod that stays: %v", err)
	}
}

// TestInventory reads kinds and replicas from rendered overlays, after the
// scenario's components and with an HPA's maxReplicas where one scales a
// workload.
func TestInventory(t *testing.T) {
	objs, err := Render("../fixtures/system/overlays/v2")
	if err != nil {
		t.Fatal(err)
	}
	if err := Customize(objs, map[string]scenario.Component{"controller": {Replicas: ptr(int32(3))}}); err != nil {
		t.Fatal(err)
	}
	inv := Inventory(objs)
	if w := inv["controller"]; w.Kind != "StatefulSet" || w.Replicas != 3 {
		t.Errorf("controller: %+v", w)
	}
	if w := inv["worker"]; w.Kind != "Deployment" || w.Replicas < 1 {
		t.Errorf("worker: %+v", w)
	}
	if len(inv) != len(Workloads(objs)) {
		t.Errorf("inventory %v, workloads %v", inv, Workloads(objs))
	}
	hpa, err := Render("../fixtures/hpa/small")
	if err != nil {
		t.Fatal(err)
	}
	if w := Inventory(hpa)["listener"]; w.Replicas != 4 {
		t.Errorf("listener under an HPA of at most 4: %+v", w)
	}
}

// pod is a pod of the namespace with the given container statuses and
// conditions.
func stuckPod(name string, cs []corev1.ContainerStatus, conds ...corev1.PodCondition) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: cs, Conditions: conds}}
}

func waitingStatus(container, reason, msg string, restarts int32) []corev1.ContainerStatus {
	return []corev1.ContainerStatus{{Name: container, RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
}

// A pod that cannot start ends the wait at once with one error naming the
// pod, its container, the reason and Kubernetes' message.
func TestWaitReadyFailsFast(t *testing.T) {
	replicas := int32(1)
	notReady := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "listener", Namespace: "ns", Generation: 1},
		Spec:   appsv1.DeploymentSpec{Replicas: &replicas},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1}}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"image pull back-off", stuckPod("listener-a", waitingStatus("listener", "ImagePullBackOff", `Back-off pulling image "perfrun/listener:v1"`, 0)),
			`pod listener-a container listener cannot start: ImagePullBackOff: Back-off pulling image "perfrun/listener:v1"`},
		{"image pull error", stuckPod("listener-a", waitingStatus("listener", "ErrImagePull", "not found", 0)),
			"pod listener-a container listener cannot start: ErrImagePull: not found"},
		{"never pull", stuckPod("listener-a", waitingStatus("listener", "ErrImageNeverPull", `Container image "perfrun/listener:v9" is not present with pull policy of Never`, 0)),
			`cannot start: ErrImageNeverPull: Container image "perfrun/listener:v9" is not present`},
		{"invalid image name", stuckPod("listener-a", waitingStatus("listener", "InvalidImageName", `Failed to apply default image tag "Bad:Name"`, 0)),
			"container listener cannot start: InvalidImageName"},
		{"crash loop", func() *corev1.Pod {
			p := stuckPod("listener-a", waitingStatus("listener", "CrashLoopBackOff", "back-off 40s restarting failed container", CrashLoopRestarts))
			p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}
			return p
		}(), "pod listener-a container listener cannot start: CrashLoopBackOff: back-off 40s restarting failed container (restarted 3 times, last exit 1 Error)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{Kube: fake.NewClientset(notReady.DeepCopy(), tc.pod)}
			began := time.Now()
			err := c.WaitReady(context.Background(), "ns", []string{"listener"}, time.Minute)
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("took %v; want the wait ended at once", took)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// Restarts below CrashLoopRestarts, a pod being deleted and a pod
// unschedulable or waiting on its config for less than its grace are
// waited through; one past it is not.
func TestStuck(t *testing.T) {
	now := time.Now()
	seen := since{}
	unsched := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/1 nodes are available: 1 Insufficient cpu."}
	early := stuckPod("worker-a", waitingStatus("worker", "CrashLoopBackOff", "", CrashLoopRestarts-1))
	gone := stuckPod("worker-b", waitingStatus("worker", "ImagePullBackOff", "", 0))
	gone.DeletionTimestamp = &metav1.Time{Time: now}
	pending := stuckPod("worker-c", nil, unsched)
	if err := stuck([]corev1.Pod{*early, *gone, *pending}, seen, now); err != nil {
		t.Fatalf("at first sight: %v", err)
	}
	if err := stuck([]corev1.Pod{*pending}, seen, now.Add(UnschedulableGrace/2)); err != nil {
		t.Fatalf("within the grace: %v", err)
	}
	err := stuck([]corev1.Pod{*pending}, seen, now.Add(UnschedulableGrace))
	if err == nil || !strings.Contains(err.Error(), "pod worker-c cannot be scheduled (for 20s): 0/1 nodes are available: 1 Insufficient cpu.") {
		t.Fatalf("past the grace: %v", err)
	}
	// Scheduled after all: forgotten, and its grace starts again if it
	// turns unschedulable later.
	scheduled := stuckPod("worker-c", nil, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
	if err := stuck([]corev1.Pod{*scheduled}, seen, now.Add(UnschedulableGrace)); err != nil || len(seen) != 0 {
		t.Fatalf("scheduled: %v, remembered %v", err, seen)
	}
	// A ConfigMap applied beside the pod that the kubelet has not seen
	// yet: waited through for ConfigGrace, final past it.
	config := stuckPod("listener-a", waitingStatus("listener", "CreateContainerConfigError", `configmap "backend-limits" not found`, 0))
	config.UID = "config"
	if err := stuck([]corev1.Pod{*config}, seen, now); err != nil {
		t.Fatalf("config error at first sight: %v", err)
	}
	if err := stuck([]corev1.Pod{*config}, seen, now.Add(ConfigGrace/2)); err != nil {
		t.Fatalf("config error within the grace: %v", err)
	}
	err = stuck([]corev1.Pod{*config}, seen, now.Add(ConfigGrace))
	if err == nil || !strings.Contains(err.Error(), `pod listener-a container listener cannot start: CreateContainerConfigError: configmap "backend-limits" not found`) {
		t.Fatalf("config error past the grace: %v", err)
	}
	// The config came: forgotten, its grace starts again.
	started := stuckPod("listener-a", nil)
	started.UID = "config"
	if err := stuck([]corev1.Pod{*started}, seen, now.Add(ConfigGrace)); err != nil || len(seen) != 0 {
		t.Fatalf("started: %v, remembered %v", err, seen)
	}
	if err := stuck([]corev1.Pod{*config}, seen, now.Add(2*ConfigGrace)); err != nil {
		t.Fatalf("config error again, at first sight: %v", err)
	}
	two := []corev1.Pod{*stuckPod("b", waitingStatus("c", "ErrImagePull", "", 0)), *stuckPod("a", waitingStatus("c", "ErrImagePull", "", 0))}
	if err := stuck(two, seen, now); err == nil || !strings.HasPrefix(err.Error(), "pod a container c") || !strings.Contains(err.Error(), "(and 1 more pods that cannot start)") {
		t.Fatalf("two stuck pods: %v", err)
	}
}
