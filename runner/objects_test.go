package runner

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/objects/watcher"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

var taskRunsGVR = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "taskruns"}

func objectRun(t *testing.T, resource string, objs ...runtime.Object) (*runState, *dynamicfake.FakeDynamicClient) {
	t.Helper()
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "tekton.dev", Version: "v1", Kind: "TaskRun"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"}, meta.RESTScopeNamespace)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{taskRunsGVR: "TaskRunList", watcher.LeaseGVR: "LeaseList"}, objs...)
	s := &scenario.Scenario{Spec: scenario.Spec{Assertions: []scenario.Assertion{
		{Name: "even", EvenDistribution: &scenario.EvenDistribution{Max: 1.5}},
		{Name: "lat", ObjectLatency: &scenario.ObjectLatency{Resource: resource, Condition: "Succeeded", To: "condition",
			Percentiles: map[string]scenario.Duration{"p99": scenario.D(time.Minute)}}},
		{Name: "lat-status", ObjectLatency: &scenario.ObjectLatency{Resource: resource, Condition: "Succeeded", To: "status",
			Percentiles: map[string]scenario.Duration{"p99": scenario.D(time.Minute)}}},
	}}}
	return &runState{s: s, dc: &deploy.Client{Dynamic: dyn, Mapper: mapper}, p: NewProgress(io.Discard, ModeQuiet),
		dir: t.TempDir(), ns: "ns", res: &result.Run{}}, dyn
}

// The runner watches the resources its assertions name and the
// namespace's Leases, and after the run hands the assertions what they
// saw and writes objects.json and leases.json.
func TestObjectWatchers(t *testing.T) {
	lease := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
		"metadata": map[string]any{"name": "ctl.00-of-01", "namespace": "ns"}, "spec": map[string]any{"holderIdentity": "ctl-0_abc"}}}
	r, dyn := objectRun(t, "taskruns.tekton.dev", lease)
	ctx := context.Background()
	if err := r.watchObjects(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.objw.objs); n != 1 {
		t.Fatalf("%d object watchers, want one for the two assertions on taskruns", n)
	}
	start := time.Now()
	r.res.LoadStart = start
	tr := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"name": "tr-1", "namespace": "ns"}}}
	ri := dyn.Resource(taskRunsGVR).Namespace("ns")
	if _, err := ri.Create(ctx, tr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Succeeded", "status": "True"}}}
	w := r.objw.objs[objectKey("taskruns.tekton.dev", "")]
	for deadline := time.Now().Add(5 * time.Second); ; {
		if recs := w.Snapshot(); len(recs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the TaskRun was never seen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := ri.Update(ctx, tr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if recs := w.Snapshot(); recs[0].Condition("Succeeded") != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the TaskRun's condition was never seen")
		}
		time.Sleep(5 * time.Millisecond)
	}

	env := &assertions.Env{Window: scenario.Window{Start: start, End: time.Now(), Namespace: "ns"}}
	r.objectsEnv(env)
	recs, err := env.Objects(ctx, "taskruns.tekton.dev", "")
	if err != nil || len(recs) != 1 || recs[0].Name != "tr-1" {
		t.Fatalf("Env.Objects = %+v, %v", recs, err)
	}
	if _, err := env.Objects(ctx, "pods", "app=x"); err == nil || !strings.Contains(err.Error(), "did not watch pods with selector app=x") {
		t.Errorf("an unwatched resource: %v", err)
	}
	if spans := env.Leases(); len(spans) != 1 || spans[0].Holder != "ctl-0_abc" || !spans[0].Open {
		t.Errorf("Env.Leases = %+v", spans)
	}
	res := assertions.Evaluate(ctx, env, r.s.Spec.Assertions[1:])
	for _, a := range res {
		if a.Status != assertions.Pass {
			t.Errorf("%s: %+v", a.Name, a)
		}
	}
	if r.res.Leases == nil || r.res.Leases.Holders[0].Pod != "ctl-0" {
		t.Errorf("result lease summary %+v", r.res.Leases)
	}
	sets, err := result.ReadObjects(r.dir)
	if err != nil || len(sets) != 1 || sets[0].GVR != "tekton.dev/v1, Resource=taskruns" || len(sets[0].Records) != 1 {
		t.Errorf("objects.json %+v, %v", sets, err)
	}
	if _, err := os.Stat(filepath.Join(r.dir, result.LeasesFile)); err != nil {
		t.Error(err)
	}
	r.stopObjects() // again, at teardown: a no-op
}

func TestObjectWatchersUnknownResource(t *testing.T) {
	r, _ := objectRun(t, "widgets.example.com/v1")
	err := r.watchObjects(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), `spec.assertions[1].objectLatency.resource: "widgets.example.com/v1" is not a resource the cluster serves`) {
		t.Fatalf("err = %v", err)
	}
	r.stopObjects()
	if r.objw != nil {
		t.Error("nothing must be watched when a resource does not resolve")
	}
}

// Without object assertions only the Leases are watched: no objects.json.
func TestLeaseWatcherAlone(t *testing.T) {
	r, _ := objectRun(t, "taskruns.tekton.dev/v1")
	r.s.Spec.Assertions = r.s.Spec.Assertions[:1]
	if err := r.watchObjects(context.Background()); err != nil {
		t.Fatal(err)
	}
	env := &assertions.Env{}
	r.objectsEnv(env)
	if _, err := os.Stat(filepath.Join(r.dir, result.ObjectsFile)); !os.IsNotExist(err) {
		t.Errorf("objects.json without object assertions: %v", err)
	}
	if r.res.Leases != nil || len(env.Leases()) != 0 {
		t.Errorf("no leases held: summary %+v", r.res.Leases)
	}
}
