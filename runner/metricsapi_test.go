package runner

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	fakediscovery "k8s.io/client-go/discovery/fake"
	ktesting "k8s.io/client-go/testing"
)

func TestAutoscalers(t *testing.T) {
	obj := func(kind, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetKind(kind)
		u.SetName(name)
		return u
	}
	got := autoscalers([]*unstructured.Unstructured{obj("Deployment", "listener"), obj("HorizontalPodAutoscaler", "listener"),
		obj("HorizontalPodAutoscaler", "worker")})
	if strings.Join(got, ",") != "listener,worker" {
		t.Errorf("autoscalers = %v, want listener,worker", got)
	}
	if got := autoscalers([]*unstructured.Unstructured{obj("Deployment", "listener")}); got != nil {
		t.Errorf("autoscalers without HPA = %v", got)
	}
}

func TestRequireMetricsAPI(t *testing.T) {
	d := &fakediscovery.FakeDiscovery{Fake: &ktesting.Fake{}}
	err := requireMetricsAPI(d, "kubeconfig", []string{"listener"})
	if err == nil || !strings.Contains(err.Error(), "HorizontalPodAutoscaler listener") || !strings.Contains(err.Error(), "metrics-server") {
		t.Fatalf("without the metrics API: err = %v, want one naming the HPA and metrics-server", err)
	}
	d.Resources = []*metav1.APIResourceList{{GroupVersion: metricsGroupVersion, APIResources: []metav1.APIResource{{Name: "pods"}}}}
	if err := requireMetricsAPI(d, "kubeconfig", []string{"listener"}); err != nil {
		t.Fatalf("with the metrics API: %v", err)
	}
}
