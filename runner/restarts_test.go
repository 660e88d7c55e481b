package runner

import (
	"testing"

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
	got := restartsOf(pods)
	want := []result.Restart{
		{Pod: "listener-a", Container: "listener", Count: 2, Reason: "OOMKilled", ExitCode: 137},
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
