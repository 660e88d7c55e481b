// Package kwok adds simulated nodes to any cluster with kwok
// (sigs.k8s.io/kwok, pinned in tools/kwok, built into the cache by
// internal/gotool like the local cluster's binaries): Node objects that
// kwok keeps Ready and whose pods it marks Running without running them.
// Controller scale runs use them to place thousands of objects on many
// nodes at no CPU cost, as Arktos's hollow nodes did.
package kwok

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/perfrun/perfrun/internal/gotool"
)

// Marks of simulated nodes: kwok manages the nodes with Annotation=fake,
// and the taint keeps real workloads off them unless they tolerate it.
const (
	Annotation = "kwok.x-k8s.io/node"
	Value      = "fake"
	LabelType  = "type"
	TypeKwok   = "kwok"
	NodePrefix = "kwok-node-"

	// PodCIDR and NodeIP are what kwok writes into simulated pods and
	// nodes: addresses in the local cluster's 198.18.0.0/15, outside its
	// pod range (198.18.0.0/17) and node IP, never routed.
	PodCIDR = "198.18.192.0/18"
	NodeIP  = "198.18.254.1"
)

// Tool is kwok's build, pinned in tools/kwok/go.mod (a test checks).
var Tool = gotool.Tool{
	Name: "kwok", Version: "v0.8.0", Module: "sigs.k8s.io/kwok",
	Packages:  map[string]string{"sigs.k8s.io/kwok/cmd/kwok": "kwok"},
	ColdBuild: 4 * time.Minute,
}

// Capacity is what each simulated node offers the scheduler.
type Capacity struct {
	CPU    string
	Memory string
	Pods   int
}

// DefaultCapacity is a mid-size node.
var DefaultCapacity = Capacity{CPU: "32", Memory: "256Gi", Pods: 110}

// Nodes renders n simulated nodes kwok-node-0..n-1.
func Nodes(n int, c Capacity) ([]*corev1.Node, error) {
	if n < 0 {
		return nil, fmt.Errorf("nodes: want ≥ 0, got %d", n)
	}
	cpu, err := resource.ParseQuantity(c.CPU)
	if err != nil {
		return nil, fmt.Errorf("cpu %q: %w", c.CPU, err)
	}
	mem, err := resource.ParseQuantity(c.Memory)
	if err != nil {
		return nil, fmt.Errorf("memory %q: %w", c.Memory, err)
	}
	if c.Pods < 1 {
		return nil, fmt.Errorf("pods: want ≥ 1 per node, got %d", c.Pods)
	}
	res := corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem,
		corev1.ResourcePods: *resource.NewQuantity(int64(c.Pods), resource.DecimalSI)}
	out := make([]*corev1.Node, n)
	for i := range out {
		name := NodePrefix + strconv.Itoa(i)
		out[i] = &corev1.Node{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
			ObjectMeta: metav1.ObjectMeta{Name: name,
				Annotations: map[string]string{Annotation: Value},
				Labels: map[string]string{LabelType: TypeKwok, "kubernetes.io/hostname": name,
					"kubernetes.io/os": "linux", "kubernetes.io/role": "agent"}},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: Annotation, Value: Value, Effect: corev1.TaintEffectNoSchedule}}},
			Status: corev1.NodeStatus{Capacity: res, Allocatable: res,
				NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "fake", OperatingSystem: "linux", Architecture: "amd64"}},
		}
	}
	return out, nil
}

// Apply creates the nodes that do not exist yet.
func Apply(ctx context.Context, kube kubernetes.Interface, nodes []*corev1.Node) (created int, err error) {
	for _, n := range nodes {
		_, err := kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		switch {
		case err == nil:
			created++
		case apierrors.IsAlreadyExists(err):
		default:
			return created, fmt.Errorf("creating node %s: %w", n.Name, err)
		}
	}
	return created, nil
}

// DeleteAll removes every simulated node (label type=kwok).
func DeleteAll(ctx context.Context, kube kubernetes.Interface) (int, error) {
	list, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: LabelType + "=" + TypeKwok})
	if err != nil {
		return 0, fmt.Errorf("listing simulated nodes: %w", err)
	}
	for _, n := range list.Items {
		if n.Annotations[Annotation] != Value {
			continue // not ours to delete
		}
		if err := kube.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("deleting node %s: %w", n.Name, err)
		}
	}
	return len(list.Items), nil
}

// Stages is kwok's configuration: what it does to the nodes and pods it
// manages (written for perfrun after kwok's "fast" stages: nodes Ready at
// once with a heartbeat, pods Running and Ready at once, deleted pods gone).
const Stages = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: perfrun-node-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      addresses:
      - {address: {{ NodeIP | Quote }}, type: InternalIP}
      - {address: {{ NodeName | Quote }}, type: Hostname}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: perfrun-pod-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Pending]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        started: true
        state: {running: {startedAt: {{ $now | Quote }}}}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
# A run-to-completion pod (restartPolicy Never: a Job's, a Tekton TaskRun's)
# finishes a second or two after it runs, every container exiting 0, as a
# step that did its work would: the controller that made it sees it done.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: perfrun-pod-complete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Running]}
    - {key: .spec.restartPolicy, operator: In, values: [Never]}
  delay:
    durationMilliseconds: 1000
    jitterDurationMilliseconds: 2000
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $start := .status.startTime }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: PodCompleted}
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", type: ContainersReady, reason: PodCompleted}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated: {exitCode: 0, reason: Completed, startedAt: {{ $start | Quote }}, finishedAt: {{ $now | Quote }}}
      {{ end }}
      phase: Succeeded
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: perfrun-pod-delete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: Exists}
  next:
    delete: true
`

// Args are kwok's flags: only the nodes annotated as simulated, our stages.
func Args(kubeconfig, config string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--config=" + config,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + Annotation + "=" + Value,
		"--cidr=" + PodCIDR,
		"--node-ip=" + NodeIP,
	}
}

// Process is a kwok started in the background, found again by its pid file.
type Process struct {
	// Dir holds kwok.pid, kwok.log and the stages file.
	Dir string
}

func (p Process) pidFile() string { return filepath.Join(p.Dir, "kwok.pid") }

// Log is kwok's log file.
func (p Process) Log() string { return filepath.Join(p.Dir, "kwok.log") }

// Running is kwok's pid when the pid file names a live kwok.
func (p Process) Running() (int, bool) {
	b, err := os.ReadFile(p.pidFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	// The pid must still be kwok, not a process that reused the number.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0]) != "kwok" {
		return 0, false
	}
	return pid, true
}

// Start runs bin detached (it outlives this command, until Stop), unless a
// kwok started here already runs.
func (p Process) Start(bin, kubeconfig string) (int, error) {
	if pid, ok := p.Running(); ok {
		return pid, nil
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return 0, err
	}
	config := filepath.Join(p.Dir, "stages.yaml")
	if err := os.WriteFile(config, []byte(Stages), 0o644); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(p.Log(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, Args(kubeconfig, config)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting kwok: %w", err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(p.pidFile(), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return 0, err
	}
	// Not waited for: it runs on after this command returns.
	_ = cmd.Process.Release()
	return pid, nil
}

// Up builds kwok into cacheDir when it is missing (from tools/kwok under
// srcDir), starts it on the cluster of kubeconfig and creates nodes there:
// what `perfrun cluster kwok` and a run's spec.system.kwok both do.
func (p Process) Up(ctx context.Context, kube kubernetes.Interface, srcDir, cacheDir, kubeconfig string, nodes []*corev1.Node, log io.Writer) (pid, created int, err error) {
	if !Tool.Built(cacheDir) {
		if err := Tool.Build(ctx, srcDir, cacheDir, log); err != nil {
			return 0, 0, err
		}
	}
	if pid, err = p.Start(filepath.Join(Tool.Dir(cacheDir), "kwok"), kubeconfig); err != nil {
		return 0, 0, err
	}
	created, err = Apply(ctx, kube, nodes)
	return pid, created, err
}

// Stop ends the kwok of the pid file (SIGTERM, then SIGKILL after grace).
func (p Process) Stop(grace time.Duration) error {
	pid, ok := p.Running()
	if !ok {
		_ = os.Remove(p.pidFile())
		return nil
	}
	proc, _ := os.FindProcess(pid)
	if err := proc.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping kwok (pid %d): %w", pid, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if _, ok := p.Running(); !ok {
			return os.Remove(p.pidFile())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = proc.Signal(syscall.SIGKILL)
	return os.Remove(p.pidFile())
}
