package deploy

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestWaitEndpointsWaitsForEveryReadyPod(t *testing.T) {
	ns := "perfrun-x"
	ready := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "listener"}},
			Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "listener", Namespace: ns}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "listener"}}}
	headless := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "external", Namespace: ns}} // no selector: not ours to wait for
	yes := true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "listener-abc", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "listener"}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"198.18.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: &yes}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "listener-a"}},
		},
	}
	kube := fake.NewClientset(svc, headless, ready("listener-a"), ready("listener-b"), slice)
	c := &Client{Kube: kube}

	err := c.WaitEndpoints(context.Background(), ns, 600*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "service listener: 1 Ready pod(s) not yet among its endpoints") {
		t.Fatalf("one Ready pod missing from the endpoints: %v", err)
	}

	slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{"198.18.0.6"},
		Conditions: discoveryv1.EndpointConditions{Ready: &yes}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "listener-b"}})
	if _, err := kube.DiscoveryV1().EndpointSlices(ns).Update(context.Background(), slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitEndpoints(context.Background(), ns, 2*time.Second); err != nil {
		t.Fatalf("every Ready pod listed: %v", err)
	}
}

func TestWaitDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := WaitDial(context.Background(), addr, 2*time.Second); err != nil {
		t.Fatalf("listening address: %v", err)
	}
	l.Close()
	err = WaitDial(context.Background(), addr, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), addr+" not accepting connections") {
		t.Fatalf("closed address: %v", err)
	}
}
