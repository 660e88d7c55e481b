package loadgen

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/scenario"
)

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// get walks maps without copying (kustomize's output holds plain ints,
// which unstructured's Nested* deep copy refuses).
func get(o any, path ...string) any {
	for _, p := range path {
		m, ok := o.(map[string]any)
		if !ok {
			return nil
		}
		o = m[p]
	}
	return o
}

// TestHPAFixtures renders fixtures/hpa and its small variant and checks
// what the autoscaling scenarios rely on.
func TestHPAFixtures(t *testing.T) {
	for _, c := range []struct {
		dir, request, threshold string
		max                     int64
	}{
		{"../fixtures/hpa/v2", "1", "0.9", 10},
		{"../fixtures/hpa/small", "100m", "0.3", 4},
	} {
		objs, err := deploy.Render(c.dir)
		if err != nil {
			t.Fatalf("%s: %v", c.dir, err)
		}
		for _, name := range []string{"listener", "worker"} {
			h := find(objs, "HorizontalPodAutoscaler", name)
			if h == nil {
				t.Fatalf("%s: no HPA %s", c.dir, name)
			}
			target := get(h.Object, "spec", "scaleTargetRef", "name")
			max := fmt.Sprint(get(h.Object, "spec", "maxReplicas"))
			metrics, _ := get(h.Object, "spec", "metrics").([]any)
			util := fmt.Sprint(get(metrics[0], "resource", "target", "averageUtilization"))
			if target != name || max != fmt.Sprint(c.max) || util != "80" {
				t.Errorf("%s: HPA %s targets %v, max %s, %s%%", c.dir, name, target, max, util)
			}
			d := find(objs, "Deployment", name)
			if d == nil {
				t.Fatalf("%s: no Deployment %s", c.dir, name)
			}
			containers, _ := get(d.Object, "spec", "template", "spec", "containers").([]any)
			cpu := fmt.Sprint(get(containers[0], "resources", "requests", "cpu"))
			if cpu != c.request {
				t.Errorf("%s: %s requests %q CPU, want %s", c.dir, name, cpu, c.request)
			}
			if name == "listener" {
				var args []string
				raw, _ := get(containers[0], "args").([]any)
				for _, a := range raw {
					args = append(args, fmt.Sprint(a))
				}
				i := slices.Index(args, "-ready-cpu-threshold")
				if i < 0 || i+1 >= len(args) || args[i+1] != c.threshold {
					t.Errorf("%s: listener args %q, want -ready-cpu-threshold %s", c.dir, args, c.threshold)
				}
				if i := slices.Index(args, "-drain-delay"); i < 0 || i+1 >= len(args) || args[i+1] != "5s" {
					t.Errorf("%s: listener args %q, want -drain-delay 5s", c.dir, args)
				}
			}
		}
	}
}

// TestScaleScenarios: the scale scenarios validate and ask for what their
// comments say.
func TestScaleScenarios(t *testing.T) {
	files, _ := filepath.Glob("../suites/scenarios/scale-*.yaml")
	if len(files) < 3 {
		t.Fatalf("scale scenarios: %v", files)
	}
	for _, f := range files {
		s, err := scenario.LoadFile(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if s.Metadata.Labels["suite"] != "scale" {
			t.Errorf("%s: not labelled suite: scale", f)
		}
	}
	s, err := scenario.LoadFile("../suites/scenarios/scale-generators.yaml", map[string]string{"GENERATORS": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec.Load.Generators != 3 || s.Spec.Load.Distributed == nil || s.Spec.Load.Distributed.Provision != "fixtures/load/provision.js" {
		t.Fatalf("scale-generators: load %+v", s.Spec.Load)
	}
	if _, err := scenario.LoadFile("../suites/scenarios/scale-generators.yaml", map[string]string{"GENERATORS": "-1"}); err == nil {
		t.Fatal("generators -1 validated")
	}
}
