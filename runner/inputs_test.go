package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestInputsOf(t *testing.T) {
	dir := t.TempDir()
	src := "spec:\n  load:\n    env: {RATE: \"${RATE:-200}\", VUS: \"${VUS:-5}\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	in := inputsOf(Options{Repo: dir, ScenarioFile: "s.yaml", Vars: map[string]string{"RATE": "500", "OTHER": "x"}})
	if !strings.HasPrefix(in.ScenarioDigest, "sha256:") || len(in.ScenarioDigest) != len("sha256:")+64 {
		t.Errorf("digest %q", in.ScenarioDigest)
	}
	if len(in.Vars) != 2 || in.Vars["RATE"] != "500" || in.Vars["VUS"] != "5" {
		t.Errorf("vars %v, want RATE=500 (--set) VUS=5 (default), not OTHER", in.Vars)
	}
	if in.Perfrun == "" {
		t.Error("no perfrun version")
	}
	again := inputsOf(Options{Repo: dir, ScenarioFile: filepath.Join(dir, "s.yaml")})
	if again.ScenarioDigest != in.ScenarioDigest || again.Vars["RATE"] != "200" {
		t.Errorf("same file, no --set: %+v", again)
	}
	none := inputsOf(Options{Vars: map[string]string{"RATE": "1"}})
	if none.ScenarioDigest != "" || none.Vars["RATE"] != "1" {
		t.Errorf("no file: %+v", none)
	}
}

func TestComponentsOf(t *testing.T) {
	dep := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "listener"},
		"spec": map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "listener", "image": "perfrun/listener:v1", "args": []any{"-queue", "v2"}},
		}}}}}}
	sts := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "controller"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "c", "image": "perfrun/controller:v1", "command": []any{"/controller"}},
		}}}}}}
	svc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "listener-svc"}}}
	got := componentsOf([]*unstructured.Unstructured{dep, sts, svc})
	if len(got) != 2 {
		t.Fatalf("components %v, want listener and controller", got)
	}
	l := got["listener"]
	if l.Replicas != 2 || l.Containers["listener"].Image != "perfrun/listener:v1" || strings.Join(l.Containers["listener"].Args, " ") != "-queue v2" {
		t.Errorf("listener %+v", l)
	}
	c := got["controller"]
	if c.Replicas != 1 || c.Containers["c"].Command[0] != "/controller" {
		t.Errorf("controller %+v (replicas default 1)", c)
	}
}
