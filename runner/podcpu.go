package runner

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/perfrun/perfrun/assertions"
)

// podsCPU lists the pods of ns that belong to the named Deployments or
// StatefulSets (through their controller owner: a StatefulSet, or a
// ReplicaSet owned by a Deployment), each with its containers' CPU
// limits in cores (0: none) as the API server has them, so that what
// coreUtilization divides by is what the kubelet enforced, LimitRange
// defaults included. Pods that finished are left out.
func podsCPU(ctx context.Context, kube kubernetes.Interface, ns string, workloads []string) ([]assertions.PodCPU, error) {
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	rsets, err := kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	deployOf := map[string]string{} // ReplicaSet → Deployment
	for _, rs := range rsets.Items {
		if o := metav1.GetControllerOf(&rs); o != nil && o.Kind == "Deployment" {
			deployOf[rs.Name] = o.Name
		}
	}
	var out []assertions.PodCPU
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		o := metav1.GetControllerOf(&p)
		if o == nil {
			continue
		}
		w := ""
		switch o.Kind {
		case "StatefulSet":
			w = o.Name
		case "ReplicaSet":
			w = deployOf[o.Name]
		}
		if w == "" || !slices.Contains(workloads, w) {
			continue
		}
		pc := assertions.PodCPU{Pod: p.Name, Workload: w, Limits: map[string]float64{}}
		for _, c := range p.Spec.Containers {
			pc.Limits[c.Name] = c.Resources.Limits.Cpu().AsApproximateFloat64()
		}
		out = append(out, pc)
	}
	return out, nil
}
