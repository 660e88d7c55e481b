package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
)

// PodChaosGVR is Chaos Mesh's PodChaos resource.
var PodChaosGVR = schema.GroupVersionResource{Group: "chaos-mesh.org", Version: "v1alpha1", Resource: "podchaos"}

// HasChaosMesh says whether the cluster serves Chaos Mesh's PodChaos (its
// CRDs are installed). A cluster without the group is not an error.
func HasChaosMesh(d discovery.DiscoveryInterface) (bool, error) {
	list, err := d.ServerResourcesForGroupVersion(PodChaosGVR.GroupVersion().String())
	if apierrors.IsNotFound(err) || (err != nil && strings.Contains(err.Error(), "the server could not find the requested resource")) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", PodChaosGVR.GroupVersion(), err)
	}
	for _, r := range list.APIResources {
		if r.Name == PodChaosGVR.Resource {
			return true, nil
		}
	}
	return false, nil
}

// PodChaos is the PodChaos object that kills exactly the named pods: the
// harness picks them (so runs are reproducible and the record names them),
// Chaos Mesh carries out the kill, as it would in a team's own chaos runs.
func PodChaos(namespace, name string, pods []string, grace int64) *unstructured.Unstructured {
	names := make([]any, len(pods))
	for i, p := range pods {
		names[i] = p
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": PodChaosGVR.GroupVersion().String(),
		"kind":       "PodChaos",
		"metadata": map[string]any{
			"name":      name,
			"namespace": namespace,
			"labels":    map[string]any{"app.kubernetes.io/managed-by": "perfrun"},
		},
		"spec": map[string]any{
			"action":      "pod-kill",
			"mode":        "all",
			"gracePeriod": grace,
			"selector": map[string]any{
				"pods": map[string]any{namespace: names},
			},
		},
	}}
}

// killWithChaosMesh creates a PodChaos for the picked pods, waits until each
// of them is gone or replaced (a new UID under the same name, as a
// StatefulSet brings it back), and removes the PodChaos.
func (in *Injector) killWithChaosMesh(ctx context.Context, picked []string, uids map[string]types.UID, grace int64) ([]string, error) {
	name := fmt.Sprintf("perfrun-kill-%d", in.now().UnixNano())
	res := in.Dynamic.Resource(PodChaosGVR).Namespace(in.Namespace)
	if _, err := res.Create(ctx, PodChaos(in.Namespace, name, picked, grace), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating PodChaos %s: %w", name, err)
	}
	defer func() {
		// a one-shot action: the object is only the request
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = res.Delete(dctx, name, metav1.DeleteOptions{})
	}()
	var killed []string
	deadline := in.now().Add(time.Duration(grace)*time.Second + 60*time.Second)
	for _, p := range picked {
		for {
			pod, err := in.Client.CoreV1().Pods(in.Namespace).Get(ctx, p, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || (err == nil && (pod.UID != uids[p] || pod.DeletionTimestamp != nil)) {
				killed = append(killed, p)
				break
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return killed, fmt.Errorf("watching pod %s after PodChaos %s: %w", p, name, err)
			}
			if in.now().After(deadline) {
				return killed, fmt.Errorf("PodChaos %s did not kill pod %s within %v (is the Chaos Mesh controller running?)", name, p, deadline.Sub(in.now()))
			}
			select {
			case <-ctx.Done():
				return killed, ctx.Err()
			case <-time.After(in.poll() / 4):
			}
		}
	}
	return killed, nil
}

func podUIDs(pods []corev1.Pod) map[string]types.UID {
	m := make(map[string]types.UID, len(pods))
	for _, p := range pods {
		m[p.Name] = p.UID
	}
	return m
}

var errNoDynamic = errors.New("chaos: Chaos Mesh asked for but no dynamic client")
