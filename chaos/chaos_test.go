package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

func ptr[T any](v T) *T { return &v }

const ns = "perfrun-test"

func statefulSet(name string, n int) []runtime.Object {
	sel := map[string]string{"app": name}
	objs := []runtime.Object{&appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(n)), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "perfrun/" + name + ":v1"}}}}},
	}}
	for i := range n {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, i), Namespace: ns, Labels: sel},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
	// A pod of another component, which must never be picked.
	objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other-0", Namespace: ns, Labels: map[string]string{"app": "other"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	return objs
}

func TestPick(t *testing.T) {
	pods := []string{"c-0", "c-1", "c-2", "c-3"}
	got, err := Pick(pods, scenario.PodKill{Component: "c", Ordinal: ptr(2)}.Pods(), 1)
	if err != nil || !slices.Equal(got, []string{"c-2"}) {
		t.Errorf("ordinal: %v %v", got, err)
	}
	if _, err := Pick(pods, scenario.PodKill{Component: "c", Ordinal: ptr(7)}.Pods(), 1); err == nil || !strings.Contains(err.Error(), "c-7") {
		t.Errorf("missing ordinal: %v", err)
	}
	a, _ := Pick(pods, scenario.PodKill{Component: "c", Count: ptr(2)}.Pods(), 42)
	b, _ := Pick(pods, scenario.PodKill{Component: "c", Count: ptr(2)}.Pods(), 42)
	if len(a) != 2 || !slices.Equal(a, b) {
		t.Errorf("count with one seed must pick the same two pods: %v %v", a, b)
	}
	seen := map[string]bool{}
	for seed := range int64(40) {
		p, _ := Pick(pods, scenario.PodKill{Component: "c", Count: ptr(1)}.Pods(), seed)
		seen[p[0]] = true
	}
	if len(seen) < 3 {
		t.Errorf("random pick over 40 seeds chose only %v", seen)
	}
	if p, _ := Pick(pods, scenario.PodKill{Component: "c", Percent: ptr(50)}.Pods(), 1); len(p) != 2 {
		t.Errorf("50%% of 4 = %v", p)
	}
	if p, _ := Pick(pods, scenario.PodKill{Component: "c", Percent: ptr(30)}.Pods(), 1); len(p) != 2 {
		t.Errorf("30%% of 4 rounds up to 2: %v", p)
	}
	if _, err := Pick(pods, scenario.PodKill{Component: "c", Count: ptr(5)}.Pods(), 1); err == nil {
		t.Error("count above running pods must fail")
	}
	if _, err := Pick(nil, scenario.PodKill{Component: "c"}.Pods(), 1); err == nil {
		t.Error("no pods must fail")
	}
}

func TestPodKill(t *testing.T) {
	cs := fake.NewClientset(statefulSet("controller", 3)...)
	var grace *int64
	cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		grace = a.(k8stesting.DeleteAction).GetDeleteOptions().GracePeriodSeconds
		return false, nil, nil
	})
	clk := clocktesting.NewFakePassiveClock(time.Unix(1_800_000_000, 0))
	in := &Injector{Client: cs, Namespace: ns, Clock: clk}
	ev := in.Do(context.Background(), scenario.Action{Name: "kill", At: scenario.D(5 * time.Second),
		PodKill: &scenario.PodKill{Component: "controller", Ordinal: ptr(1), GracePeriod: ptr(scenario.D(3 * time.Second))}})
	if ev.Error != "" || ev.Kind != scenario.KindPodKill || !slices.Equal(ev.Targets, []string{"controller-1"}) {
		t.Fatalf("event %+v", ev)
	}
	if !ev.Start.Equal(clk.Now()) || ev.Planned != 5*time.Second {
		t.Errorf("event times %+v", ev)
	}
	if grace == nil || *grace != 3 {
		t.Errorf("grace period sent = %v, want 3", grace)
	}
	pods, _ := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	var left []string
	for _, p := range pods.Items {
		left = append(left, p.Name)
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{"controller-0", "controller-2", "other-0"}) {
		t.Errorf("pods left %v", left)
	}

	ev = in.Do(context.Background(), scenario.Action{Name: "kill2", PodKill: &scenario.PodKill{Component: "nope", Count: ptr(1)}})
	if !strings.Contains(ev.Error, "no Deployment or StatefulSet named nope") {
		t.Errorf("unknown component: %+v", ev)
	}
}

// settle plays the controllers the fake clientset lacks: rollouts finish
// and Jobs complete, in the order they were asked for.
func settle(ctx context.Context, cs *fake.Clientset, order *[]string, mu *sync.Mutex) {
	for ctx.Err() == nil {
		ds, _ := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		for _, d := range ds.Items {
			if d.Spec.Template.Spec.Containers[0].Image == "perfrun/worker:v2" && d.Status.ReadyReplicas == 0 {
				n := *d.Spec.Replicas
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
				cs.AppsV1().Deployments(ns).UpdateStatus(ctx, &d, metav1.UpdateOptions{})
				mu.Lock()
				*order = append(*order, "rolled")
				mu.Unlock()
			}
		}
		js, _ := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		for _, j := range js.Items {
			if len(j.Status.Conditions) == 0 {
				j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
				cs.BatchV1().Jobs(ns).UpdateStatus(ctx, &j, metav1.UpdateOptions{})
				mu.Lock()
				*order = append(*order, "migrated")
				mu.Unlock()
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUpgrade(t *testing.T) {
	for _, when := range []string{scenario.MigrateBefore, scenario.MigrateAfter, scenario.MigrateDuring} {
		t.Run(when, func(t *testing.T) {
			cs := fake.NewClientset(&appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: ns},
				Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "worker"}},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "perfrun/worker:v1", Args: []string{"-queue=v1"}}}}}},
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var order []string
			var mu sync.Mutex
			go settle(ctx, cs, &order, &mu)
			in := &Injector{Client: cs, Namespace: ns, Poll: 5 * time.Millisecond}
			ev := in.Do(ctx, scenario.Action{Name: "up", Upgrade: &scenario.Upgrade{
				Components: map[string]scenario.Component{"worker": {Image: "perfrun/worker:v2", Args: []string{"-queue=v2"}, Env: map[string]string{"A": "1"}}},
				Migration:  &scenario.Migration{When: when, Image: "perfrun/migrate:v2", Args: []string{"-from=v1"}},
				Timeout:    scenario.D(10 * time.Second),
			}})
			if ev.Error != "" {
				t.Fatalf("upgrade: %+v", ev)
			}
			d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "worker", metav1.GetOptions{})
			c := d.Spec.Template.Spec.Containers[0]
			if c.Image != "perfrun/worker:v2" || !slices.Equal(c.Args, []string{"-queue=v1", "-queue=v2"}) || len(c.Env) != 1 {
				t.Errorf("worker container after upgrade: %+v", c)
			}
			js, _ := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			if len(js.Items) != 1 || js.Items[0].Spec.Template.Spec.Containers[0].Image != "perfrun/migrate:v2" {
				t.Errorf("migration jobs: %+v", js.Items)
			}
			if len(ev.Steps) != 2 {
				t.Fatalf("steps %+v", ev.Steps)
			}
			mu.Lock()
			defer mu.Unlock()
			switch when {
			case scenario.MigrateBefore:
				if !slices.Equal(order, []string{"migrated", "rolled"}) || ev.Steps[0].Name != "migration" {
					t.Errorf("before: order %v steps %+v", order, ev.Steps)
				}
			case scenario.MigrateAfter:
				if !slices.Equal(order, []string{"rolled", "migrated"}) || ev.Steps[0].Name != "rollout" {
					t.Errorf("after: order %v steps %+v", order, ev.Steps)
				}
			}
		})
	}
}

func TestUpgradeTimesOut(t *testing.T) {
	cs := fake.NewClientset(statefulSet("controller", 1)...)
	in := &Injector{Client: cs, Namespace: ns, Poll: 5 * time.Millisecond}
	ev := in.Do(context.Background(), scenario.Action{Name: "up", Upgrade: &scenario.Upgrade{
		Components: map[string]scenario.Component{"controller": {Image: "x"}}, Timeout: scenario.D(50 * time.Millisecond)}})
	if !strings.Contains(ev.Error, "rollout of controller not finished") || !strings.Contains(ev.Error, "replicas ready") {
		t.Errorf("want a timeout naming what is not ready: %+v", ev)
	}
	if ev.End.Before(ev.Start) {
		t.Errorf("end before start: %+v", ev)
	}
}

func TestTimeline(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	clk := clocktesting.NewFakeClock(start)
	actions := []scenario.Action{
		{Name: "late", At: scenario.D(20 * time.Second)},
		{Name: "early", At: scenario.D(10 * time.Second)},
		{Name: "never", At: scenario.D(time.Hour)},
	}
	var mu sync.Mutex
	var fired []string
	do := func(_ context.Context, a scenario.Action) result.Event {
		mu.Lock()
		fired = append(fired, a.Name)
		mu.Unlock()
		return result.Event{Name: a.Name, Start: clk.Now(), End: clk.Now()}
	}
	var starts []string
	onEvent := func(ev result.Event, done bool) {
		if !done {
			mu.Lock()
			starts = append(starts, ev.Name)
			mu.Unlock()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []result.Event)
	go func() { out <- Timeline(ctx, clk, start, actions, do, onEvent) }()

	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			mu.Lock()
			l := len(fired)
			mu.Unlock()
			if l == n {
				return
			}
		}
		t.Fatalf("want %d fired, got %v", n, fired)
	}
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(9 * time.Second)
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	if len(fired) != 0 {
		t.Fatalf("fired before its time: %v", fired)
	}
	mu.Unlock()
	clk.Step(1 * time.Second)
	waitFor(1)
	clk.Step(10 * time.Second)
	waitFor(2)
	cancel() // the load ended before "never" was due
	events := <-out
	if !slices.Equal(fired, []string{"early", "late"}) || !slices.Equal(starts, fired) {
		t.Errorf("fired %v (starts %v), want early then late", fired, starts)
	}
	if !events[1].Start.Equal(start.Add(10*time.Second)) || !events[0].Start.Equal(start.Add(20*time.Second)) {
		t.Errorf("events fired at the wrong time: %+v", events)
	}
	if !strings.Contains(events[2].Error, "not fired") {
		t.Errorf("unfired action must say so: %+v", events[2])
	}
	w := Windows(events)
	if _, ok := w["never"]; ok || len(w) != 2 {
		t.Errorf("windows %v", w)
	}
}

// fakeApply plays server-side apply on the fake clientset: workloads are
// created or replaced, not yet rolled.
type fakeApply struct {
	cs   *fake.Clientset
	objs []*unstructured.Unstructured
}

func (f *fakeApply) Apply(ctx context.Context, ns string, objs []*unstructured.Unstructured) error {
	f.objs = objs
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				return err
			}
			d.Namespace = ns
			if _, err := f.cs.AppsV1().Deployments(ns).Update(ctx, &d, metav1.UpdateOptions{}); err != nil {
				if _, err := f.cs.AppsV1().Deployments(ns).Create(ctx, &d, metav1.CreateOptions{}); err != nil {
					return err
				}
			}
		case "StatefulSet":
			var s appsv1.StatefulSet
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
				return err
			}
			s.Namespace = ns
			if _, err := f.cs.AppsV1().StatefulSets(ns).Create(ctx, &s, metav1.CreateOptions{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// settleAll makes every Deployment and StatefulSet ready, once each.
func settleAll(ctx context.Context, cs *fake.Clientset, rolled *[]string, mu *sync.Mutex) {
	for ctx.Err() == nil {
		ds, _ := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		for _, d := range ds.Items {
			if n := *d.Spec.Replicas; d.Status.ReadyReplicas < n {
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
				cs.AppsV1().Deployments(ns).UpdateStatus(ctx, &d, metav1.UpdateOptions{})
				mu.Lock()
				*rolled = append(*rolled, d.Name)
				mu.Unlock()
			}
		}
		ss, _ := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		for _, s := range ss.Items {
			if n := *s.Spec.Replicas; s.Status.ReadyReplicas < n {
				s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n}
				cs.AppsV1().StatefulSets(ns).UpdateStatus(ctx, &s, metav1.UpdateOptions{})
				mu.Lock()
				*rolled = append(*rolled, s.Name)
				mu.Unlock()
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An upgrade to an overlay renders it with the system's components and
// the upgrade's on top, applies it and waits for every workload.
func TestUpgradeToOverlay(t *testing.T) {
	cs := fake.NewClientset(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "worker"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "perfrun/worker:v1"}}}}},
		Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rolled []string
	var mu sync.Mutex
	go settleAll(ctx, cs, &rolled, &mu)
	app := &fakeApply{cs: cs}
	var images map[string]string
	in := &Injector{Client: cs, Namespace: ns, Poll: 5 * time.Millisecond, Repo: "..", Deploy: app,
		System:   scenario.System{Components: map[string]scenario.Component{"worker": {Replicas: ptr(int32(2)), Args: []string{"-a"}, Env: map[string]string{"A": "1"}}}},
		Upgraded: func(m map[string]string) { images = m }}
	ev := in.Do(ctx, scenario.Action{Name: "up", Upgrade: &scenario.Upgrade{Overlay: "fixtures/system/overlays/v2", Timeout: scenario.D(10 * time.Second),
		Components: map[string]scenario.Component{"worker": {Args: []string{"-b"}, Env: map[string]string{"B": "2"}}}}})
	if ev.Error != "" || ev.Kind != scenario.KindUpgrade || !slices.Equal(ev.Targets, []string{"controller", "listener", "redis", "worker"}) {
		t.Fatalf("overlay upgrade: %+v", ev)
	}
	if images["worker/worker"] != "perfrun/worker:v2" {
		t.Errorf("upgraded images %v", images)
	}
	d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "worker", metav1.GetOptions{})
	c := d.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if *d.Spec.Replicas != 2 || c.Image != "perfrun/worker:v2" || !slices.Contains(c.Args, "-a") || !slices.Contains(c.Args, "-b") || env["A"] != "1" || env["B"] != "2" {
		t.Errorf("worker after the upgrade: replicas %d, %+v", *d.Spec.Replicas, c)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(rolled)
	if !slices.Equal(rolled, []string{"controller", "listener", "redis", "worker"}) {
		t.Errorf("the upgrade must wait for every rollout: %v", rolled)
	}
}

func TestUpgradeToOverlayNeedsDeploy(t *testing.T) {
	in := &Injector{Client: fake.NewClientset(), Namespace: ns, Repo: ".."}
	ev := in.Do(context.Background(), scenario.Action{Name: "up", Upgrade: &scenario.Upgrade{Overlay: "fixtures/system/overlays/v2", Timeout: scenario.D(time.Second)}})
	if !strings.Contains(ev.Error, "needs Injector.Deploy") || len(ev.Steps) != 1 || ev.Steps[0].Name != "rollout" {
		t.Errorf("%+v", ev)
	}
}

func TestNoKind(t *testing.T) {
	ev := (&Injector{}).Do(context.Background(), scenario.Action{Name: "none"})
	if ev.Error != "action has no kind" || ev.Kind != "" {
		t.Errorf("%+v", ev)
	}
}

// Every kind a scenario may have is carried out here.
func TestEveryKindHasAnAction(t *testing.T) {
	for _, k := range scenario.ActionKinds() {
		mk, ok := kinds[k]
		if !ok {
			t.Errorf("no chaos implementation of %s", k)
			continue
		}
		var a scenario.Action
		switch k {
		case scenario.KindPodKill:
			a.PodKill = &scenario.PodKill{}
		case scenario.KindPodFailure:
			a.PodFailure = &scenario.PodFailure{}
		case scenario.KindUpgrade:
			a.Upgrade = &scenario.Upgrade{}
		}
		if a.Kind() != k {
			t.Errorf("test does not set %s", k)
			continue
		}
		if act := mk(a.Spec()); act.Kind() != k {
			t.Errorf("kinds[%s] is a %s", k, act.Kind())
		}
	}
	if len(kinds) != len(scenario.ActionKinds()) {
		t.Errorf("kinds %d, scenario has %v", len(kinds), scenario.ActionKinds())
	}
}

func TestMergeComponent(t *testing.T) {
	base := scenario.Component{Replicas: ptr(int32(2)), Image: "a:v1", Args: []string{"-a"}, Env: map[string]string{"A": "1", "B": "1"},
		Resources: &scenario.Resources{Requests: map[string]string{"cpu": "100m"}, Limits: map[string]string{"cpu": "500m"}}}
	got := mergeComponent(base, scenario.Component{Image: "a:v2", Args: []string{"-b"}, Env: map[string]string{"B": "2"},
		Resources: &scenario.Resources{Limits: map[string]string{"cpu": "1", "memory": "64Mi"}}})
	if *got.Replicas != 2 || got.Image != "a:v2" || !slices.Equal(got.Args, []string{"-a", "-b"}) || got.Env["A"] != "1" || got.Env["B"] != "2" {
		t.Errorf("merged %+v", got)
	}
	if r := got.Resources; r.Requests["cpu"] != "100m" || r.Limits["cpu"] != "1" || r.Limits["memory"] != "64Mi" {
		t.Errorf("merged resources %+v", r)
	}
	if base.Env["B"] != "1" || base.Resources.Limits["cpu"] != "500m" || len(base.Args) != 1 {
		t.Errorf("the system's component changed: %+v %+v", base, base.Resources)
	}
	if got := mergeComponent(scenario.Component{}, scenario.Component{Resources: &scenario.Resources{Requests: map[string]string{"cpu": "1"}}}); got.Resources.Requests["cpu"] != "1" {
		t.Errorf("resources of an upgrade over none: %+v", got.Resources)
	}
}
