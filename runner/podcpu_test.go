package runner

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func owned(kind, name string) []metav1.OwnerReference {
	t := true
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, Controller: &t}}
}

func cpuPod(name string, owner []metav1.OwnerReference, phase corev1.PodPhase, limits ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", OwnerReferences: owner}, Status: corev1.PodStatus{Phase: phase}}
	for i, l := range limits {
		c := corev1.Container{Name: []string{"main", "sidecar"}[i]}
		if l != "" {
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(l)}
		}
		p.Spec.Containers = append(p.Spec.Containers, c)
	}
	return p
}

// Pods are found through their owners (a Deployment's through its
// ReplicaSet), with each container's CPU limit in cores, 0 for none.
func TestPodsCPU(t *testing.T) {
	objs := []runtime.Object{
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "listener-7d", Namespace: "ns", OwnerReferences: owned("Deployment", "listener")}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "worker-5c", Namespace: "ns", OwnerReferences: owned("Deployment", "worker")}},
		cpuPod("listener-7d-a", owned("ReplicaSet", "listener-7d"), corev1.PodRunning, "250m", "50m"),
		cpuPod("listener-7d-old", owned("ReplicaSet", "listener-7d"), corev1.PodFailed, "250m"),
		cpuPod("worker-5c-b", owned("ReplicaSet", "worker-5c"), corev1.PodRunning, ""),
		cpuPod("controller-0", owned("StatefulSet", "controller"), corev1.PodRunning, "1500m"),
		cpuPod("redis-x", owned("ReplicaSet", "redis-9"), corev1.PodRunning, ""),
		cpuPod("k6-job", owned("Job", "k6"), corev1.PodRunning, ""),
	}
	got, err := podsCPU(context.Background(), fake.NewClientset(objs...), "ns", []string{"listener", "worker", "controller"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		workload string
		limits   map[string]float64
	}{
		"listener-7d-a": {"listener", map[string]float64{"main": 0.25, "sidecar": 0.05}},
		"worker-5c-b":   {"worker", map[string]float64{"main": 0}},
		"controller-0":  {"controller", map[string]float64{"main": 1.5}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for _, p := range got {
		w, ok := want[p.Pod]
		if !ok || p.Workload != w.workload || len(p.Limits) != len(w.limits) {
			t.Errorf("pod %+v, want %+v", p, w)
			continue
		}
		for c, l := range w.limits {
			if p.Limits[c] != l {
				t.Errorf("%s/%s limit %g, want %g", p.Pod, c, p.Limits[c], l)
			}
		}
	}
}
