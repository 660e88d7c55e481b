package runner

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"

	"github.com/perfrun/perfrun/cluster"
)

// metricsGroupVersion is the resource metrics API, what a
// HorizontalPodAutoscaler's CPU and memory targets read.
const metricsGroupVersion = "metrics.k8s.io/v1beta1"

// ensureMetricsAPI makes sure a system with a HorizontalPodAutoscaler finds
// the resource metrics API: a provider that can add it (the local cluster
// builds and runs metrics-server only for such systems) is asked to; on any
// other cluster it must be served already, or the HPA would never scale and
// the run would measure a system that is not the one described.
func (r *runState) ensureMetricsAPI(ctx context.Context, objs []*unstructured.Unstructured) error {
	hpas := autoscalers(objs)
	if len(hpas) == 0 {
		return nil
	}
	if m, ok := r.provider.(cluster.MetricsAPI); ok {
		if err := m.EnsureMetricsServer(ctx, r.p.Writer()); err != nil {
			return fmt.Errorf("metrics-server for HorizontalPodAutoscaler %s: %w", strings.Join(hpas, ", "), err)
		}
		return nil
	}
	return requireMetricsAPI(r.kube.Discovery(), r.provider.Name(), hpas)
}

// requireMetricsAPI says which HPAs cannot work when the cluster does not
// serve the resource metrics API.
func requireMetricsAPI(d discovery.DiscoveryInterface, provider string, hpas []string) error {
	if _, err := d.ServerResourcesForGroupVersion(metricsGroupVersion); err != nil {
		return fmt.Errorf("HorizontalPodAutoscaler %s reads the resource metrics API (%s), which cluster %s does not serve (%v): install metrics-server there",
			strings.Join(hpas, ", "), metricsGroupVersion, provider, err)
	}
	return nil
}

// autoscalers names the HorizontalPodAutoscalers among objs.
func autoscalers(objs []*unstructured.Unstructured) []string {
	var names []string
	for _, o := range objs {
		if o.GetKind() == "HorizontalPodAutoscaler" {
			names = append(names, o.GetName())
		}
	}
	return names
}
