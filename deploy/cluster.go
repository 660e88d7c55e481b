package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// A third-party system (package systems) brings cluster-scoped objects of
// its own: CRDs, ClusterRoles and their bindings, webhook configurations.
// A run applies them labelled with its run id, and deletes what carries
// its label at the end; it never takes over one it did not create.

// clusterKinds are the built-in kinds that are cluster-scoped.
var clusterKinds = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true, "APIService": true,
	"PriorityClass": true, "StorageClass": true, "PersistentVolume": true, "IngressClass": true, "RuntimeClass": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// Scope says which rendered objects are namespaced: the built-in kinds by
// a fixed list, custom ones by the scope of a CRD rendered with them (a
// custom kind whose CRD is not among them is taken as namespaced).
type Scope map[schema.GroupKind]bool

// Scopes reads the scope of each custom kind the objects' CRDs define.
func Scopes(objs []*unstructured.Unstructured) Scope {
	s := Scope{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		s[schema.GroupKind{Group: group, Kind: kind}] = scope != "Cluster"
	}
	return s
}

// Namespaced says whether o goes into a namespace.
func (s Scope) Namespaced(o *unstructured.Unstructured) bool {
	gk := o.GroupVersionKind().GroupKind()
	if ns, ok := s[gk]; ok {
		return ns
	}
	builtin := gk.Group == "" || strings.HasSuffix(gk.Group, ".k8s.io")
	return !(builtin && clusterKinds[gk.Kind])
}

// Relocate moves o from a system's home namespace into the run's: its own
// namespace and every reference to home that a release's manifests carry
// (RBAC subjects, webhook and CRD conversion services).
func Relocate(o *unstructured.Unstructured, home, ns string) {
	if o.GetNamespace() == home {
		o.SetNamespace(ns)
	}
	swap := func(m map[string]any, key string) {
		if v, _ := m[key].(string); v == home {
			m[key] = ns
		}
	}
	switch o.GetKind() {
	case "RoleBinding", "ClusterRoleBinding":
		subs, _, _ := unstructured.NestedSlice(o.Object, "subjects")
		for _, s := range subs {
			if m, ok := s.(map[string]any); ok {
				swap(m, "namespace")
			}
		}
		_ = unstructured.SetNestedSlice(o.Object, subs, "subjects")
	case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
		hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		for _, h := range hooks {
			if m, ok := h.(map[string]any); ok {
				if svc, ok, _ := unstructured.NestedMap(m, "clientConfig", "service"); ok {
					swap(svc, "namespace")
					_ = unstructured.SetNestedMap(m, svc, "clientConfig", "service")
				}
			}
		}
		_ = unstructured.SetNestedSlice(o.Object, hooks, "webhooks")
	case "CustomResourceDefinition":
		if svc, ok, _ := unstructured.NestedMap(o.Object, "spec", "conversion", "webhook", "clientConfig", "service"); ok {
			swap(svc, "namespace")
			_ = unstructured.SetNestedMap(o.Object, svc, "spec", "conversion", "webhook", "clientConfig", "service")
		}
	}
}

// ApplyCluster server-side applies cluster-scoped objects labelled with
// the run id, CRDs first and each Established before the rest, so that the
// namespaced objects applied next can be custom resources of them. An
// object that exists without perfrun's label belongs to someone else (a
// Tekton already installed): the run refuses it, naming it, rather than
// overwrite it. One left by an earlier perfrun run is taken over.
func (c *Client) ApplyCluster(ctx context.Context, runID string, objs []*unstructured.Unstructured, timeout time.Duration) error {
	var crds, rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o)
		} else {
			rest = append(rest, o)
		}
	}
	for _, o := range crds {
		if err := c.applyClusterObject(ctx, runID, o); err != nil {
			return err
		}
	}
	if len(crds) > 0 {
		if err := c.waitEstablished(ctx, crds, timeout); err != nil {
			return err
		}
		if r, ok := c.Mapper.(meta.ResettableRESTMapper); ok {
			r.Reset() // the new kinds must resolve from here on
		}
	}
	for _, o := range rest {
		if err := c.applyClusterObject(ctx, runID, o); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) applyClusterObject(ctx context.Context, runID string, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", gvk.Kind, o.GetName(), err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return fmt.Errorf("applying %s %s: namespaced, not cluster-scoped", gvk.Kind, o.GetName())
	}
	res := c.Dynamic.Resource(m.Resource)
	old, err := res.Get(ctx, o.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading %s %s: %w", gvk.Kind, o.GetName(), err)
	case old.GetLabels()[RunLabel] == "":
		return fmt.Errorf("%s %s already exists and was not created by perfrun: the system seems installed in this cluster already; remove it or use another cluster", gvk.Kind, o.GetName())
	}
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[RunLabel] = runID
	labels["app.kubernetes.io/managed-by"] = "perfrun"
	o.SetLabels(labels)
	return serverSideApply(ctx, res, o)
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitEstablished waits until every CRD says Established.
func (c *Client) waitEstablished(ctx context.Context, crds []*unstructured.Unstructured, timeout time.Duration) error {
	var waiting []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		waiting = waiting[:0]
		for _, o := range crds {
			got, err := c.Dynamic.Resource(crdGVR).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil || !conditionTrue(got, "Established") {
				waiting = append(waiting, o.GetName())
			}
		}
		return len(waiting) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("CRDs not established after %s: %s: %w", timeout, strings.Join(waiting, ", "), err)
	}
	return nil
}

func conditionTrue(o *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}

// DeleteCluster deletes the cluster-scoped objects of the given kinds
// that carry the run's label: webhooks first (so nothing calls a webhook
// that is going away), CRDs last (their deletion takes the custom
// resources with it). Every kind is tried; the errors are joined.
func (c *Client) DeleteCluster(ctx context.Context, runID string, objs []*unstructured.Unstructured) error {
	order := func(o *unstructured.Unstructured) int {
		switch o.GetKind() {
		case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			return 0
		case "CustomResourceDefinition":
			return 2
		}
		return 1
	}
	objs = slices.Clone(objs)
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return order(a) - order(b) })
	var errs []error
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", gvk.Kind, o.GetName(), err))
			continue
		}
		res := c.Dynamic.Resource(m.Resource)
		got, err := res.Get(ctx, o.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", gvk.Kind, o.GetName(), err))
			continue
		}
		if got.GetLabels()[RunLabel] != runID {
			continue // another run's, or not perfrun's
		}
		if err := res.Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", gvk.Kind, o.GetName(), err))
		}
	}
	return errors.Join(errs...)
}
