package deploy

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
		"worker":     {Replicas: ptr(int32(2)), Image: "perfrun/worker:test", Args: []string{"-concurrency=4"}, Env: map[string]string{"X": "1"}},
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
