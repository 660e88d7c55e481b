package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/perfrun/perfrun/scenario"
)

// failurePods is statefulSet's objects with real pods: two containers
// each and a uid, which podFailure patches and tests.
func failurePods(n int) []runtime.Object {
	objs := statefulSet("controller", n)
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			p.UID = types.UID("uid-" + p.Name)
			p.Spec.Containers = []corev1.Container{{Name: "main", Image: "perfrun/controller:v1"}, {Name: "side", Image: "perfrun/side:v1"}}
		}
	}
	return objs
}

func images(t *testing.T, cs *fake.Clientset, name string) []string {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range p.Spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

func TestPodFailureHoldsAndRestores(t *testing.T) {
	cs := fake.NewClientset(failurePods(3)...)
	var mu sync.Mutex
	var patched []string
	cs.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		patched = append(patched, a.(k8stesting.PatchAction).GetName())
		mu.Unlock()
		return false, nil, nil
	})
	in := &Injector{Client: cs, Namespace: ns, PauseImage: "perfrun/pause:v1"}
	during := make(chan []string, 1)
	go func() {
		// Read the pod while the failure holds.
		for range 200 {
			time.Sleep(5 * time.Millisecond)
			if im := images(t, cs, "controller-1"); im[0] == "perfrun/pause:v1" {
				during <- im
				return
			}
		}
		during <- nil
	}()
	ev := in.Do(context.Background(), scenario.Action{Name: "fail", PodFailure: &scenario.PodFailure{Component: "controller", Ordinal: ptr(1),
		Duration: scenario.D(300 * time.Millisecond)}})
	if ev.Error != "" || ev.Kind != scenario.KindPodFailure || !slices.Equal(ev.Targets, []string{"controller-1"}) {
		t.Fatalf("event %+v", ev)
	}
	if im := <-during; !slices.Equal(im, []string{"perfrun/pause:v1", "perfrun/pause:v1"}) {
		t.Errorf("while failed, controller-1 ran %v, want the pause image in every container", im)
	}
	if im := images(t, cs, "controller-1"); !slices.Equal(im, []string{"perfrun/controller:v1", "perfrun/side:v1"}) {
		t.Errorf("after the failure controller-1 runs %v, want its own images back", im)
	}
	if d := ev.End.Sub(ev.Start); d < 300*time.Millisecond {
		t.Errorf("the failure lasted %s, want ≥ its 300ms", d)
	}
	if len(ev.Steps) != 2 || ev.Steps[0].Name != "fail" || ev.Steps[1].Name != "restore" {
		t.Errorf("steps %+v", ev.Steps)
	}
	if !slices.Equal(patched, []string{"controller-1", "controller-1"}) {
		t.Errorf("patched %v, want controller-1 failed then restored and nothing else", patched)
	}
	for _, other := range []string{"controller-0", "controller-2"} {
		if im := images(t, cs, other); im[0] != "perfrun/controller:v1" {
			t.Errorf("%s was touched: %v", other, im)
		}
	}
}

// A run stopped during the failure still gets its pods back.
func TestPodFailureRestoresWhenStopped(t *testing.T) {
	cs := fake.NewClientset(failurePods(3)...)
	in := &Injector{Client: cs, Namespace: ns, Seed: 7}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ev := in.Do(ctx, scenario.Action{Name: "fail", PodFailure: &scenario.PodFailure{Component: "controller", Count: ptr(2), Duration: scenario.D(time.Hour)}})
	if !strings.Contains(ev.Error, "stopped after") || len(ev.Targets) != 2 {
		t.Fatalf("event %+v", ev)
	}
	for i := range 3 {
		if im := images(t, cs, fmt.Sprintf("controller-%d", i)); im[0] != "perfrun/controller:v1" {
			t.Errorf("controller-%d left running %v", i, im)
		}
	}
}

// A pod replaced while it was failed (same name, another uid) is not
// patched back: it already runs its own images.
func TestPodFailureLeavesAReplacedPod(t *testing.T) {
	cs := fake.NewClientset(failurePods(1)...)
	in := &Injector{Client: cs, Namespace: ns}
	ctx := context.Background()
	go func() {
		for range 200 {
			time.Sleep(5 * time.Millisecond)
			if im := images(t, cs, "controller-0"); im[0] == DefaultPauseImage {
				_ = cs.CoreV1().Pods(ns).Delete(ctx, "controller-0", metav1.DeleteOptions{})
				p := failurePods(1)[1].(*corev1.Pod)
				p.UID = "uid-new"
				p.Spec.Containers[0].Image = "perfrun/controller:v2"
				_, _ = cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
				return
			}
		}
	}()
	ev := in.Do(ctx, scenario.Action{Name: "fail", PodFailure: &scenario.PodFailure{Component: "controller", Ordinal: ptr(0), Duration: scenario.D(300 * time.Millisecond)}})
	if ev.Error != "" {
		t.Fatalf("event %+v", ev)
	}
	if im := images(t, cs, "controller-0"); im[0] != "perfrun/controller:v2" {
		t.Errorf("the replacement pod was patched: %v", im)
	}
}
