package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Strays go in the order that lets each go: namespaced objects, then
// namespaces (waited for), then webhooks, the rest, CRDs last; one that is
// gone already is no error.
func TestRemoveStraysOrder(t *testing.T) {
	gvr := func(g, v, r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
	}
	crd := gvr("apiextensions.k8s.io", "v1", "customresourcedefinitions")
	hook := gvr("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations")
	role := gvr("rbac.authorization.k8s.io", "v1", "clusterroles")
	chaos := gvr("chaos-mesh.org", "v1alpha1", "podchaos")
	job := gvr("batch", "v1", "jobs")
	obj := func(apiVersion, kind, ns, name string) runtime.Object {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		return u
	}
	scheme := runtime.NewScheme()
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		crd: "CustomResourceDefinitionList", hook: "ValidatingWebhookConfigurationList", role: "ClusterRoleList",
		chaos: "PodChaosList", job: "JobList"},
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "tasks.tekton.dev"),
		obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "validation.webhook.pipeline.tekton.dev"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "tekton-pipelines-controller"),
		obj("chaos-mesh.org/v1alpha1", "PodChaos", "perfrun-x", "kill"))
	var order []string
	dyn.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		order = append(order, a.GetResource().Resource+"/"+a.(k8stesting.DeleteAction).GetName())
		return false, nil, nil
	})
	kube := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "perfrun-x"}})
	kube.PrependReactor("delete", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		order = append(order, "namespaces/"+a.(k8stesting.DeleteAction).GetName())
		return false, nil, nil
	})
	c := &Client{Kube: kube, Dynamic: dyn}
	strays := []Stray{
		{Resource: crd, Kind: "CustomResourceDefinition", Name: "tasks.tekton.dev"},
		{Resource: role, Kind: "ClusterRole", Name: "tekton-pipelines-controller"},
		{Resource: gvr("", "v1", "namespaces"), Kind: "Namespace", Name: "perfrun-x"},
		{Resource: hook, Kind: "ValidatingWebhookConfiguration", Name: "validation.webhook.pipeline.tekton.dev"},
		{Resource: chaos, Kind: "PodChaos", Namespace: "perfrun-x", Name: "kill"},
		{Resource: job, Kind: "Job", Namespace: "perfrun-x", Name: "k6-gone"}, // gone with its namespace already
	}
	var done []string
	if err := c.RemoveStrays(context.Background(), strays, 10*time.Second, func(s Stray) { done = append(done, s.Name) }); err != nil {
		t.Fatal(err)
	}
	want := "podchaos/kill jobs/k6-gone namespaces/perfrun-x validatingwebhookconfigurations/validation.webhook.pipeline.tekton.dev " +
		"clusterroles/tekton-pipelines-controller customresourcedefinitions/tasks.tekton.dev"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("deleted in order\n %s\nwant\n %s", got, want)
	}
	if len(done) != len(strays) {
		t.Errorf("told of %v, want all %d", done, len(strays))
	}
	if s := strays[4].String(); s != "podchaos.chaos-mesh.org kill in perfrun-x" {
		t.Errorf("Stray.String() = %q", s)
	}
}
