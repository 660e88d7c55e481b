package deploy

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/perfrun/perfrun/scenario"
)

// WaitEndpoints waits (bounded) until every Service of ns with a selector
// lists each Ready pod it selects as a ready endpoint. Pods Ready is not
// enough to send load: the EndpointSlice controller and then kube-proxy
// follow a moment later, and until then the Service refuses connections
// (measured: a load started 2 s after the pods were Ready got "connection
// refused" from the listener's ClusterIP).
func (c *Client) WaitEndpoints(ctx context.Context, ns string, timeout time.Duration) error {
	var waiting []string
	var last error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		waiting, last = c.endpointsBehind(ctx, ns)
		return last == nil && len(waiting) == 0, nil
	})
	switch {
	case err == nil:
		return nil
	case last != nil:
		return fmt.Errorf("services' endpoints after %s: %w", timeout, last)
	default:
		return fmt.Errorf("services' endpoints not ready after %s: %s", timeout, strings.Join(waiting, "; "))
	}
}

// endpointsBehind names the Services whose ready endpoints lag their Ready
// pods.
func (c *Client) endpointsBehind(ctx context.Context, ns string) ([]string, error) {
	svcs, err := c.Kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	eps, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range svcs.Items {
		if len(s.Spec.Selector) == 0 {
			continue // endpoints managed by someone else
		}
		sel := labels.SelectorFromSet(s.Spec.Selector)
		want := map[string]bool{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Labels)) && podReady(&p) {
				want[p.Name] = true
			}
		}
		for _, sl := range eps.Items {
			if sl.Labels[discoveryv1.LabelServiceName] != s.Name {
				continue
			}
			for _, ep := range sl.Endpoints {
				if ep.TargetRef != nil && ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					delete(want, ep.TargetRef.Name)
				}
			}
		}
		if len(want) > 0 {
			out = append(out, fmt.Sprintf("service %s: %d Ready pod(s) not yet among its endpoints", s.Name, len(want)))
		}
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// WaitDial waits (bounded) until a TCP connection to addr is accepted, then
// closes it: a Service's endpoints listed is not yet kube-proxy's rules
// written on this host. One attempt every 100 ms.
func WaitDial(ctx context.Context, addr string, timeout time.Duration) error {
	var d net.Dialer
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := d.DialContext(actx, "tcp", addr)
		if err != nil {
			last = err
			return false, nil
		}
		return true, c.Close()
	})
	if err != nil {
		return fmt.Errorf("%s not accepting connections after %s: %w", addr, timeout, cmp.Or(last, err))
	}
	return nil
}

// ServiceURL is http://CLUSTER-IP:PORT of a Service in ns, reachable from
// here when the provider says pods are.
func ServiceURL(ctx context.Context, kube kubernetes.Interface, ns string, t scenario.Target) (string, error) {
	svc, err := kube.CoreV1().Services(ns).Get(ctx, t.Service, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("service %s: %w", t.Service, err)
	}
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == "None" {
		return "", fmt.Errorf("service %s has no cluster IP", t.Service)
	}
	return fmt.Sprintf("http://%s:%d", ip, t.Port), nil
}
