package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// DefaultPauseImage is the pod sandbox image of kubeadm-built clusters
// (kind's nodes among them): a podFailure's stand-in image where the
// provider names none.
const DefaultPauseImage = "registry.k8s.io/pause:3.10"

// podFailure replaces the containers' images of picked pods with a pause
// image for a while and then puts them back (Chaos Mesh's pod-failure,
// done through the API: a pod's container images are the one part of its
// spec that may change). The kubelet restarts each container with the
// image it is given, so the process is gone while the pod, and its
// StatefulSet ordinal, stay.
type podFailure struct{ *scenario.PodFailure }

// Preflight implements Action.
func (f podFailure) Preflight(p string, plan *Plan) error { return preflightPick(p, f.Pods(), plan) }

// failed is one pod whose images were replaced: what to put back.
type failed struct {
	name   string
	uid    types.UID
	images []string
}

// Do implements Action: fail, hold for Duration, restore. The restore
// runs also when ctx ends (the run is being stopped), on a context of its
// own, so a stopped run never leaves pods running a pause image.
func (f podFailure) Do(ctx context.Context, in *Injector) ([]string, []result.ActionStep, error) {
	pods, picked, err := pick(ctx, in, f.Pods())
	if err != nil {
		return nil, nil, err
	}
	image := f.Image
	if image == "" {
		image = in.PauseImage
	}
	if image == "" {
		image = DefaultPauseImage
	}
	byName := map[string]corev1.Pod{}
	for _, p := range pods {
		byName[p.Name] = p
	}

	step := result.ActionStep{Name: "fail", Start: in.now()}
	var done []failed
	var failErr, restoreErrs error
	for _, name := range picked {
		p := byName[name]
		orig := make([]string, len(p.Spec.Containers))
		for i, c := range p.Spec.Containers {
			orig[i] = c.Image
		}
		if err := setImages(ctx, in, p.Name, p.UID, len(orig), func(int) string { return image }); err != nil {
			failErr = err
			break
		}
		done = append(done, failed{name: p.Name, uid: p.UID, images: orig})
	}
	step.End = in.now()
	steps := []result.ActionStep{step}
	if failErr == nil {
		hold := time.NewTimer(f.Duration.Duration)
		select {
		case <-ctx.Done():
			failErr = fmt.Errorf("stopped after %s of %s: %w", in.now().Sub(step.Start).Round(time.Second), f.Duration, ctx.Err())
		case <-hold.C:
		}
		hold.Stop()
	}
	if failErr != nil {
		step.Error = failErr.Error()
	}

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	restore := result.ActionStep{Name: "restore", Start: in.now()}
	for _, d := range done {
		err := setImages(rctx, in, d.name, d.uid, len(d.images), func(i int) string { return d.images[i] })
		if err != nil {
			restoreErrs = errors.Join(restoreErrs, fmt.Errorf("putting back the images of pod %s: %w", d.name, err))
		}
	}
	restore.End = in.now()
	if restoreErrs != nil {
		restore.Error = restoreErrs.Error()
	}
	targets := make([]string, len(done))
	for i, d := range done {
		targets[i] = d.name
	}
	return targets, append(steps, restore), errors.Join(failErr, restoreErrs)
}

// setImages patches every container's image of pod name, only while it is
// still the pod with uid: a pod replaced meanwhile (deleted by someone
// else) already runs its real images and is left alone.
func setImages(ctx context.Context, in *Injector, name string, uid types.UID, n int, image func(int) string) error {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	ops := []op{{Op: "test", Path: "/metadata/uid", Value: string(uid)}}
	for i := range n {
		ops = append(ops, op{Op: "replace", Path: fmt.Sprintf("/spec/containers/%d/image", i), Value: image(i)})
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	pods := in.Client.CoreV1().Pods(in.Namespace)
	_, err = pods.Patch(ctx, name, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: "perfrun"})
	if err == nil || apierrors.IsNotFound(err) {
		return nil // a pod gone runs nothing of ours
	}
	// The uid test fails when the pod was replaced: whatever replaced it
	// runs its own images.
	if p, gerr := pods.Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(gerr) || (gerr == nil && p.UID != uid) {
		return nil
	}
	return fmt.Errorf("patching the images of pod %s: %w", name, err)
}
