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
				Name: "worker", RestartCount: 4,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}},
			}}}},
	)
	c := &Client{Kube: kube}
	err := c.WaitReady(context.Background(), "ns", []string{"worker"}, 1500*time.Millisecond)
	for _, want := range []string{"deployment worker: 0/1 replicas ready", "worker-abc/worker CrashLoopBackOff (last exit 2 Error) restarts=4"} {
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
	// The pods go at once, not after their grace periods.
	var podsDeleted bool
	for _, a := range kube.Actions() {
		if dc, ok := a.(k8stesting.DeleteCollectionActionImpl); ok && a.GetResource().Resource == "pods" && a.GetNamespace() == "perfrun-x" {
			g := dc.DeleteOptions.GracePeriodSeconds
			podsDeleted = g != nil && *g == 0
		}
	}
	if !podsDeleted {
		t.Error("the namespace's pods were not deleted with grace period 0")
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
