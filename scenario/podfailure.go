package scenario

import "regexp"

// KindPodFailure is the key of a pod failure on an action.
const KindPodFailure = "podFailure"

// PodFailure keeps pods of a component failed for a while, as Chaos Mesh's
// pod-failure does: every container's image is replaced by one that does
// nothing (a pause image), so the pod stays (a StatefulSet does not
// replace it, its ordinal stays taken) but its process is gone; after
// Duration the images are put back. A kill (podKill) is over as soon as
// the pod is replaced, which for a controller that restarts in seconds
// disrupts little; a failure that lasts shows what a pod gone for that
// long costs. One of Count, Ordinal, Percent.
type PodFailure struct {
	Component string `yaml:"component" json:"component"`
	Count     *int   `yaml:"count,omitempty" json:"count,omitempty"`
	Ordinal   *int   `yaml:"ordinal,omitempty" json:"ordinal,omitempty"`
	Percent   *int   `yaml:"percent,omitempty" json:"percent,omitempty"`
	Seed      *int64 `yaml:"seed,omitempty" json:"seed,omitempty"`
	// Duration is how long the pods stay failed (required).
	Duration Duration `yaml:"duration" json:"duration"`
	// Image replaces the containers' images while the failure lasts: an
	// image every node has (default: the cluster's pod sandbox image, the
	// provider's pause). A container with its own command needs an image
	// that has that command; with a pause image it fails to start, which
	// leaves it just as down.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
}

// Kind implements ActionSpec.
func (f *PodFailure) Kind() string { return KindPodFailure }

// Pods implements PodAction: which pods fail.
func (f PodFailure) Pods() PodPick {
	return PodPick{Component: f.Component, Count: f.Count, Ordinal: f.Ordinal, Percent: f.Percent, Seed: f.Seed}
}

// Default implements ActionSpec: one pod.
func (f *PodFailure) Default() { defaultPick(&f.Count, &f.Ordinal, &f.Percent) }

// imageRef is loose on purpose: the node's runtime decides; this only
// catches what can never be an image reference.
var imageRef = regexp.MustCompile(`^[a-z0-9][a-z0-9._:/@-]*[a-zA-Z0-9]$`)

// Validate implements ActionSpec.
func (f *PodFailure) Validate(p string, _ *Scenario) []FieldError {
	v := &validator{}
	v.validatePick(p, f.Pods())
	if f.Duration.Duration <= 0 {
		v.add(p+".duration", "required and > 0: how long the pods stay failed, e.g. 30s")
	}
	if f.Image != "" && !imageRef.MatchString(f.Image) {
		v.add(p+".image", "not an image reference: %q", f.Image)
	}
	return v.errs
}
