package tekton

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/systems"
)

const repo = "../.."

func TestToolPinnedInGoMod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "tools", "tekton", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), Module+" "+Version) {
		t.Fatalf("tools/tekton/go.mod does not pin %s %s", Module, Version)
	}
}

func render(t *testing.T, overlay string, comps map[string]scenario.Component) (*systems.Rendered, error) {
	t.Helper()
	sys := scenario.System{Overlay: overlay, Source: &scenario.Source{Name: "tekton"}, Components: comps}
	return systems.Render(context.Background(), repo, sys, "perfrun-x-1234")
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func TestRenderStatefulSet(t *testing.T) {
	r, err := render(t, "fixtures/tekton/statefulset", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != Version {
		t.Errorf("version %q, want the default %s", r.Version, Version)
	}
	if find(r.Namespaced, "Deployment", Controller) != nil {
		t.Error("the controller Deployment is still there beside the StatefulSet")
	}
	sts := find(r.Namespaced, "StatefulSet", Controller)
	if sts == nil {
		t.Fatal("no controller StatefulSet")
	}
	if sts.GetNamespace() != "perfrun-x-1234" {
		t.Errorf("StatefulSet in %q, want the run's namespace", sts.GetNamespace())
	}
	cs, _, _ := unstructured.NestedSlice(sts.Object, "spec", "template", "spec", "containers")
	c := cs[0].(map[string]any)
	if c["image"] != Image("controller") {
		t.Errorf("controller image %v, want %s", c["image"], Image("controller"))
	}
	args := strings.Join(toStrings(c["args"]), " ")
	if !strings.Contains(args, "-entrypoint-image "+Image("entrypoint")) || strings.Contains(args, "ko://") {
		t.Errorf("image flags not resolved: %s", args)
	}
	for _, o := range append(r.Namespaced, r.Cluster...) {
		b, _ := o.MarshalJSON()
		if strings.Contains(string(b), "ko://") || strings.Contains(string(b), `"namespace":"tekton-pipelines"`) {
			t.Errorf("%s %s still names ko:// or tekton-pipelines: %.300s", o.GetKind(), o.GetName(), b)
		}
	}
	if find(r.Cluster, "CustomResourceDefinition", "taskruns.tekton.dev") == nil {
		t.Error("no TaskRun CRD among the cluster objects")
	}
	hook := find(r.Cluster, "MutatingWebhookConfiguration", "webhook.pipeline.tekton.dev")
	if hook == nil {
		t.Fatal("no mutating webhook among the cluster objects")
	}
	hs, _, _ := unstructured.NestedSlice(hook.Object, "webhooks")
	if ns, _, _ := unstructured.NestedString(hs[0].(map[string]any), "clientConfig", "service", "namespace"); ns != "perfrun-x-1234" {
		t.Errorf("webhook service namespace %q, want the run's", ns)
	}
	for _, o := range r.Namespaced {
		if o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "ClusterRole" {
			t.Errorf("%s %s among the namespaced objects", o.GetKind(), o.GetName())
		}
	}
	cm := find(r.Namespaced, "ConfigMap", "config-defaults")
	if tpl, _, _ := unstructured.NestedString(cm.Object, "data", "default-pod-template"); !strings.Contains(tpl, "type: kwok") {
		t.Errorf("default pod template does not place TaskRun pods on kwok nodes: %q", tpl)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

func TestCheckRefusesReplicasOtherThanBuckets(t *testing.T) {
	two := int32(2)
	_, err := render(t, "fixtures/tekton/statefulset", map[string]scenario.Component{Controller: {Replicas: &two}})
	if err == nil || !strings.Contains(err.Error(), "2 replicas but") || !strings.Contains(err.Error(), "buckets: 3") {
		t.Fatalf("want a refusal naming replicas 2 and buckets 3, got %v", err)
	}
}

func TestRenderLeaderElection(t *testing.T) {
	r, err := render(t, "fixtures/tekton/leader-election", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := find(r.Namespaced, "Deployment", Controller)
	if d == nil {
		t.Fatal("no controller Deployment")
	}
	if n, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); n != 2 {
		t.Errorf("replicas %d, want 2", n)
	}
}

func TestLookupNamesTheField(t *testing.T) {
	if _, _, err := systems.Lookup(&scenario.Source{Name: "tekton", Version: "v0.1.0"}); err == nil || !strings.Contains(err.Error(), "spec.system.source.version") {
		t.Errorf("unknown version: %v", err)
	}
	if _, _, err := systems.Lookup(&scenario.Source{Name: "argo"}); err == nil || !strings.Contains(err.Error(), "spec.system.source.name") || !strings.Contains(err.Error(), "tekton") {
		t.Errorf("unknown system: %v", err)
	}
}
