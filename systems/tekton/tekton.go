// Package tekton is the real Tekton Pipelines (github.com/tektoncd/pipeline)
// as a system under test: its controller and webhook built from the module
// pinned in tools/tekton, its release manifests (config/ of that module)
// staged with perfrun's images in place of ko:// references. The pods its
// TaskRuns create are meant for kwok's simulated nodes (fixtures/tekton
// sets the default pod template), so the step images are names only and
// never pulled.
package tekton

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/perfrun/perfrun/deploy"
	"github.com/perfrun/perfrun/images"
	"github.com/perfrun/perfrun/internal/gotool"
	"github.com/perfrun/perfrun/systems"
)

// Version is the Tekton Pipelines release perfrun builds (tools/tekton/go.mod).
const Version = "v1.6.0"

// Module is Tekton Pipelines' Go module.
const Module = "github.com/tektoncd/pipeline"

// Names of the objects perfrun's checks read.
const (
	Controller       = "tekton-pipelines-controller"
	LeaderElectionCM = "config-leader-election-controller"
	home             = "tekton-pipelines"
)

// Tool builds the two programs that run on real nodes. The step programs
// (entrypoint, nop, sidecarlogresults, workingdirinit) would only run in
// TaskRun pods, which kwok simulates: they are not built.
var Tool = gotool.Tool{
	Name: "tekton", Version: Version, Module: Module,
	Packages: map[string]string{
		Module + "/cmd/controller": "controller",
		Module + "/cmd/webhook":    "webhook",
	},
	LDFlags:   "-s -w",
	ColdBuild: 12 * time.Minute,
}

// programs are the cmd/ packages the release manifests name as ko://
// images; built says which of them Images makes.
var programs = []string{"controller", "webhook", "entrypoint", "nop", "sidecarlogresults", "workingdirinit", "events", "resolvers"}

// Image is the image perfrun names for a Tekton program.
func Image(program string) string { return "perfrun/tekton-" + program + ":" + Version }

// releaseFiles are the files of config/ a run applies: RBAC, CRDs,
// webhooks, ConfigMaps, controller and webhook. Left out: the namespace
// (the run's stands in), the events controller and the resolvers (not
// needed for TaskRuns with inline specs), the webhook's HPA.
func releaseFile(name string) bool {
	switch {
	case name == "100-namespace", name == "events.yaml", name == "webhook-hpa.yaml", name == "resolvers",
		name == "config-leader-election-events.yaml":
		return false
	case strings.HasPrefix(name, "20"), strings.HasPrefix(name, "500-"), strings.HasPrefix(name, "config-"),
		strings.HasPrefix(name, "clusterrole-aggregate-"), name == "controller.yaml", name == "webhook.yaml":
		return strings.HasSuffix(name, ".yaml")
	}
	return false
}

type source struct{}

func init() { systems.Register(source{}) }

func (source) Name() string          { return "tekton" }
func (source) Versions() []string    { return []string{Version} }
func (source) HomeNamespace() string { return home }

// moduleDir is where the go command keeps the pinned module's source.
func moduleDir(ctx context.Context, repo string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", Module)
	cmd.Dir = filepath.Join(repo, "tools", "tekton")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("finding %s %s (go list -m in tools/tekton): %w", Module, Version, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		// Listed but not downloaded yet.
		dl := exec.CommandContext(ctx, "go", "mod", "download", Module)
		dl.Dir = cmd.Dir
		if b, err := dl.CombinedOutput(); err != nil {
			return "", fmt.Errorf("downloading %s %s: %w: %s", Module, Version, err, b)
		}
		return moduleDir(ctx, repo)
	}
	return dir, nil
}

// Stage writes config/'s release files into dir with a kustomization
// listing them (their ko:// images are named by Resolve after rendering).
func (s source) Stage(ctx context.Context, repo, version, dir string) error {
	mod, err := moduleDir(ctx, repo)
	if err != nil {
		return err
	}
	return stageFrom(filepath.Join(mod, "config"), dir)
}

func stageFrom(config, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(config)
	if err != nil {
		return err
	}
	var resources []string
	add := func(src, name string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		resources = append(resources, name)
		return os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	for _, e := range ents {
		if releaseFile(e.Name()) {
			if err := add(filepath.Join(config, e.Name()), e.Name()); err != nil {
				return err
			}
		}
	}
	crds, err := os.ReadDir(filepath.Join(config, "300-crds"))
	if err != nil {
		return err
	}
	for _, e := range crds {
		if strings.HasSuffix(e.Name(), ".yaml") {
			if err := add(filepath.Join(config, "300-crds", e.Name()), "crd-"+e.Name()); err != nil {
				return err
			}
		}
	}
	slices.Sort(resources)
	k := "# Staged by perfrun from " + Module + "@" + Version + "'s config/.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
	for _, r := range resources {
		k += "- " + r + "\n"
	}
	return os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644)
}

// Resolve names perfrun's images wherever a ko:// reference to one of
// Tekton's programs is (containers' images and the controller's image
// flags, in the release or in an overlay), and refuses any other ko://.
func (source) Resolve(objs []*unstructured.Unstructured) error {
	var bad []string
	for _, o := range objs {
		o.Object = resolveValue(o.Object, &bad).(map[string]any)
	}
	if len(bad) > 0 {
		return fmt.Errorf("ko:// references perfrun does not build: %s", strings.Join(bad, ", "))
	}
	return nil
}

func resolveValue(v any, bad *[]string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = resolveValue(e, bad)
		}
	case []any:
		for i, e := range t {
			t[i] = resolveValue(e, bad)
		}
	case string:
		if p, ok := strings.CutPrefix(t, "ko://"+Module+"/cmd/"); ok && slices.Contains(programs, p) {
			return Image(p)
		}
		if strings.HasPrefix(t, "ko://") {
			*bad = append(*bad, t)
		}
	}
	return v
}

// Images builds the controller and the webhook (cached by version) and
// their images.
func (source) Images(ctx context.Context, repo, cacheDir, version string, log io.Writer) ([]images.Built, error) {
	if !Tool.Built(cacheDir) {
		if err := Tool.Build(ctx, repo, cacheDir, log); err != nil {
			return nil, err
		}
	}
	var out []images.Built
	for _, p := range []string{"controller", "webhook"} {
		bin := filepath.Join(Tool.Dir(cacheDir), p)
		tar := filepath.Join(Tool.Dir(cacheDir), "image-"+p+".tar")
		if fresh(tar, bin) {
			out = append(out, images.Built{Ref: Image(p), Tarball: tar})
			continue
		}
		// ko's layout: the program as /ko-app/<name>, run as nonroot.
		spec := images.Spec{Ref: Image(p), Files: []images.File{{Src: bin, Dst: "/ko-app/" + p}},
			Entrypoint: []string{"/ko-app/" + p}, User: "65532"}
		if err := images.BuildTo(tar, spec); err != nil {
			return nil, err
		}
		out = append(out, images.Built{Ref: Image(p), Tarball: tar})
	}
	return out, nil
}

// fresh says whether out exists and is newer than in.
func fresh(out, in string) bool {
	o, err := os.Stat(out)
	if err != nil {
		return false
	}
	i, err := os.Stat(in)
	return err == nil && o.ModTime().After(i.ModTime())
}

// Check refuses what the controller would silently get wrong: in
// StatefulSet mode (knative's leaderelection, enabled by the env
// STATEFUL_CONTROLLER_ORDINAL) a pod whose ordinal is ≥ buckets falls back
// to Lease election, and more buckets than replicas leaves keys that no
// pod ever reconciles; buckets must be 1..10 either way.
func (source) Check(objs []*unstructured.Unstructured) error {
	buckets := 1
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" || o.GetName() != LeaderElectionCM {
			continue
		}
		if v, ok, _ := unstructured.NestedString(o.Object, "data", "buckets"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10 {
				return fmt.Errorf("ConfigMap %s: buckets must be a whole number 1..10 (knative reads it at start), got %q", LeaderElectionCM, v)
			}
			buckets = n
		}
	}
	for _, o := range objs {
		if o.GetName() != Controller || (o.GetKind() != "StatefulSet" && o.GetKind() != "Deployment") {
			continue
		}
		if o.GetKind() == "Deployment" {
			return nil
		}
		var sts appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &sts); err != nil {
			return fmt.Errorf("StatefulSet %s: %w", Controller, err)
		}
		replicas := int32(1)
		if sts.Spec.Replicas != nil {
			replicas = *sts.Spec.Replicas
		}
		if int(replicas) != buckets {
			return fmt.Errorf("StatefulSet %s has %d replicas but %s says buckets: %d: in StatefulSet mode they must be equal (a pod with ordinal ≥ buckets falls back to Lease election; more buckets than pods leaves keys nobody reconciles); set components.%s.replicas and the overlay's buckets together",
				Controller, replicas, LeaderElectionCM, buckets, Controller)
		}
		env := map[string]bool{}
		for _, c := range sts.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				env[e.Name] = true
			}
		}
		for _, need := range []string{"STATEFUL_CONTROLLER_ORDINAL", "STATEFUL_SERVICE_NAME"} {
			if !env[need] {
				return fmt.Errorf("StatefulSet %s: its container needs the env %s, or the controller runs Lease election instead", Controller, need)
			}
		}
		return nil
	}
	return fmt.Errorf("no Deployment or StatefulSet %s in the overlay", Controller)
}

var (
	taskRuns = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "taskruns"}
	probe    = map[string]any{
		"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"generateName": "perfrun-probe-"},
		"spec": map[string]any{"taskSpec": map[string]any{"steps": []any{
			map[string]any{"name": "probe", "image": "busybox", "script": "true"}}}},
	}
)

// WaitServing waits until a TaskRun can be created: a server-side dry run
// goes through Tekton's defaulting and validating webhooks and the CRD's
// conversion, so it succeeds only once the webhook serves with the
// certificates it made for itself.
func (source) WaitServing(ctx context.Context, c *deploy.Client, ns string, timeout time.Duration) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		_, last = c.Dynamic.Resource(taskRuns).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: probe},
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("tekton's webhook not serving after %s (a dry-run TaskRun create): %v", timeout, cmp.Or(last, err))
	}
	return nil
}
