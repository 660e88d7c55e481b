package chaos

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/perfrun/perfrun/scenario"
)

func TestHasChaosMesh(t *testing.T) {
	cs := fake.NewClientset()
	d := cs.Discovery().(*fakediscovery.FakeDiscovery)
	if ok, err := HasChaosMesh(d); ok || err != nil {
		t.Errorf("without the CRDs: %v %v, want false, nil", ok, err)
	}
	d.Resources = []*metav1.APIResourceList{{GroupVersion: "chaos-mesh.org/v1alpha1", APIResources: []metav1.APIResource{{Name: "podchaos", Kind: "PodChaos", Namespaced: true}}}}
	if ok, err := HasChaosMesh(d); !ok || err != nil {
		t.Errorf("with the CRDs: %v %v, want true, nil", ok, err)
	}
}

// TestPodKillThroughChaosMesh: with Chaos Mesh present a kill is a PodChaos
// naming exactly the picked pods; a stand-in for Chaos Mesh's controller
// (a fake: unit test) deletes what the object names, the injector records
// the pods as killed once they are gone and removes the PodChaos.
func TestPodKillThroughChaosMesh(t *testing.T) {
	cs := fake.NewClientset(statefulSet("controller", 3)...)
	scheme := runtime.NewScheme()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schemaGVR]string{PodChaosGVR: "PodChaosList"})
	in := &Injector{Client: cs, Dynamic: dyn, ChaosMesh: true, Namespace: ns, Poll: 40 * time.Millisecond}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := make(chan *unstructured.Unstructured, 1)
	go func() { // the Chaos Mesh controller's part
		for ctx.Err() == nil {
			list, err := dyn.Resource(PodChaosGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err == nil && len(list.Items) > 0 {
				obj := list.Items[0].DeepCopy()
				seen <- obj
				pods, _, _ := unstructured.NestedStringSlice(obj.Object, "spec", "selector", "pods", ns)
				for _, p := range pods {
					_ = cs.CoreV1().Pods(ns).Delete(ctx, p, metav1.DeleteOptions{})
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	ev := in.Do(ctx, scenario.Action{Name: "kill-1", PodKill: &scenario.PodKill{Component: "controller", Ordinal: ptr(1), GracePeriod: &scenario.Duration{}}})
	if ev.Error != "" {
		t.Fatalf("podKill through Chaos Mesh: %s", ev.Error)
	}
	if !slices.Equal(ev.Targets, []string{"controller-1"}) {
		t.Errorf("killed %v, want [controller-1]", ev.Targets)
	}
	obj := <-seen
	if a, _, _ := unstructured.NestedString(obj.Object, "spec", "action"); a != "pod-kill" {
		t.Errorf("PodChaos action %q, want pod-kill", a)
	}
	if m, _, _ := unstructured.NestedString(obj.Object, "spec", "mode"); m != "all" {
		t.Errorf("PodChaos mode %q, want all (the harness picks the pods)", m)
	}
	left, err := dyn.Resource(PodChaosGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(left.Items) != 0 {
		t.Errorf("PodChaos objects left after the kill: %d (%v)", len(left.Items), err)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, "controller-0", metav1.GetOptions{}); err != nil {
		t.Errorf("a pod that was not picked is gone: %v", err)
	}
}

// TestPodKillChaosMeshTimesOut: with no Chaos Mesh controller acting, the
// action fails saying so instead of recording a kill that did not happen.
func TestPodKillChaosMeshTimesOut(t *testing.T) {
	cs := fake.NewClientset(statefulSet("controller", 2)...)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schemaGVR]string{PodChaosGVR: "PodChaosList"})
	clk := &steppingClock{t: time.Unix(0, 0), step: 30 * time.Second}
	in := &Injector{Client: cs, Dynamic: dyn, ChaosMesh: true, Namespace: ns, Poll: 4 * time.Millisecond, Clock: clk}
	ev := in.Do(context.Background(), scenario.Action{Name: "k", PodKill: &scenario.PodKill{Component: "controller", Ordinal: ptr(0)}})
	if !strings.Contains(ev.Error, "did not kill pod controller-0") || len(ev.Targets) != 0 {
		t.Errorf("no controller acting: event %+v, want a 'did not kill' error and no targets", ev)
	}
}

type schemaGVR = schema.GroupVersionResource

// steppingClock moves forward by step at every reading.
type steppingClock struct {
	t    time.Time
	step time.Duration
}

func (c *steppingClock) Now() time.Time                  { c.t = c.t.Add(c.step); return c.t }
func (c *steppingClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
