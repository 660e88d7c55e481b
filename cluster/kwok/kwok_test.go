package kwok

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestNodes(t *testing.T) {
	nodes, err := Nodes(3, DefaultCapacity)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 {
		t.Fatalf("%d nodes", len(nodes))
	}
	for i, n := range nodes {
		if n.Name != NodePrefix+string(rune('0'+i)) || n.Annotations[Annotation] != Value || n.Labels[LabelType] != TypeKwok {
			t.Errorf("node %d: %s %v %v", i, n.Name, n.Annotations, n.Labels)
		}
		if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
			t.Errorf("node %d: taints %v (real workloads must stay off simulated nodes)", i, n.Spec.Taints)
		}
		if n.Status.Allocatable.Cpu().String() != "32" || n.Status.Allocatable.Pods().Value() != 110 {
			t.Errorf("node %d: allocatable %v", i, n.Status.Allocatable)
		}
	}
	for _, bad := range []struct {
		n int
		c Capacity
		w string
	}{
		{-1, DefaultCapacity, "nodes"},
		{1, Capacity{CPU: "x", Memory: "1Gi", Pods: 1}, "cpu"},
		{1, Capacity{CPU: "1", Memory: "lots", Pods: 1}, "memory"},
		{1, Capacity{CPU: "1", Memory: "1Gi", Pods: 0}, "pods"},
	} {
		if _, err := Nodes(bad.n, bad.c); err == nil || !strings.Contains(err.Error(), bad.w) {
			t.Errorf("%+v: error %v does not name %s", bad, err, bad.w)
		}
	}
}

func TestApplyAndDeleteOnlyTouchSimulatedNodes(t *testing.T) {
	real := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "real", Labels: map[string]string{LabelType: TypeKwok}}}
	kube := fake.NewClientset(real)
	nodes, _ := Nodes(4, DefaultCapacity)
	ctx := context.Background()
	if n, err := Apply(ctx, kube, nodes); err != nil || n != 4 {
		t.Fatalf("apply: %d, %v", n, err)
	}
	// Idempotent.
	if n, err := Apply(ctx, kube, nodes); err != nil || n != 0 {
		t.Fatalf("second apply: %d, %v", n, err)
	}
	if _, err := DeleteAll(ctx, kube); err != nil {
		t.Fatal(err)
	}
	left, _ := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if len(left.Items) != 1 || left.Items[0].Name != "real" {
		t.Fatalf("left %v: a node without kwok's annotation must survive", left.Items)
	}
}

func TestStagesAreFourStages(t *testing.T) {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(Stages)))
	var kinds []string
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				ResourceRef struct{ Kind string } `yaml:"resourceRef"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		kinds = append(kinds, doc.Kind+"/"+doc.Spec.ResourceRef.Kind)
	}
	if strings.Join(kinds, ",") != "Stage/Node,Stage/Pod,Stage/Pod,Stage/Pod" {
		t.Fatalf("stages %v", kinds)
	}
}

func TestArgsManageOnlyAnnotatedNodes(t *testing.T) {
	a := strings.Join(Args("/k", "/c"), " ")
	for _, want := range []string{"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--cidr=198.18.192.0/18", "--config=/c", "--kubeconfig=/k"} {
		if !strings.Contains(a, want) {
			t.Errorf("args %q lack %s", a, want)
		}
	}
}

func TestToolPinMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile("../../tools/kwok/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), Tool.Module+" "+Tool.Version) {
		t.Fatalf("tools/kwok/go.mod does not pin %s %s", Tool.Module, Tool.Version)
	}
}

func TestProcessNotRunningWithoutPidFile(t *testing.T) {
	p := Process{Dir: t.TempDir()}
	if _, ok := p.Running(); ok {
		t.Fatal("running with no pid file")
	}
	// A pid file naming a process that is not kwok (this test, kwok.test)
	// is not kwok.
	_ = os.WriteFile(p.pidFile(), []byte(strconv.Itoa(os.Getpid())), 0o644)
	if _, ok := p.Running(); ok {
		t.Fatal("the test process taken for kwok")
	}
	if err := p.Stop(0); err != nil {
		t.Fatal(err)
	}
}
