package runner

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perfrun/perfrun/result"
)

func TestRestartsOfListsOnlyRestartedContainers(t *testing.T) {
	pods := []corev1.Pod{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "listener-a"},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
				{Name: "listener", RestartCount: 2, LastTerminationState: corev1.ContainerState{
					Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}},
				{Name: "sidecar"},
			}},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "worker-b"},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
				// Restarted, but the kubelet no longer holds why.
				{Name: "worker", RestartCount: 1},
			}},
		},
	}
	at := func(sec int) metav1.Time { return metav1.NewTime(time.Unix(1_800_000_000+int64(sec), 0)) }
	killing := func(pod, container, msg string, sec int) corev1.Event {
		return corev1.Event{Reason: "Killing", Message: msg, LastTimestamp: at(sec),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod, FieldPath: "spec.containers{" + container + "}"}}
	}
	events := []corev1.Event{
		killing("listener-a", "listener", "Container listener failed liveness probe, will be restarted", 10),
		killing("listener-a", "listener", "Container listener failed liveness probe, will be restarted (newest)", 30),
		killing("listener-a", "sidecar", "Stopping container sidecar", 40),
		killing("listener-other", "listener", "Stopping container listener", 50),
		{Reason: "Unhealthy", Message: "Liveness probe failed", LastTimestamp: at(60),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "listener-a", FieldPath: "spec.containers{listener}"}},
	}
	got := restartsOf(pods, events)
	want := []result.Restart{
		{Pod: "listener-a", Container: "listener", Count: 2, Reason: "OOMKilled", ExitCode: 137,
			Cause: "Container listener failed liveness probe, will be restarted (newest)"},
		{Pod: "worker-b", Container: "worker", Count: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("restartsOf = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("restart %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
