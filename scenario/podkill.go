package scenario

// KindPodKill is the key of a pod kill on an action.
const KindPodKill = "podKill"

// PodKill deletes pods of a component. One of Count, Ordinal, Percent.
type PodKill struct {
	Component string `yaml:"component" json:"component"`
	Count     *int   `yaml:"count,omitempty" json:"count,omitempty"`
	Ordinal   *int   `yaml:"ordinal,omitempty" json:"ordinal,omitempty"`
	Percent   *int   `yaml:"percent,omitempty" json:"percent,omitempty"`
	// GracePeriod is the pod's termination grace (0 = kill at once).
	GracePeriod *Duration `yaml:"gracePeriod,omitempty" json:"gracePeriod,omitempty"`
	// Seed makes the random pick reproducible (default: the run's seed).
	Seed *int64 `yaml:"seed,omitempty" json:"seed,omitempty"`
}

// Kind implements ActionSpec.
func (k *PodKill) Kind() string { return KindPodKill }

// Pods implements PodAction: which pods the kill takes.
func (k PodKill) Pods() PodPick {
	return PodPick{Component: k.Component, Count: k.Count, Ordinal: k.Ordinal, Percent: k.Percent, Seed: k.Seed}
}

// Default implements ActionSpec: one pod, killed at once.
func (k *PodKill) Default() {
	defaultPick(&k.Count, &k.Ordinal, &k.Percent)
	if k.GracePeriod == nil {
		zero := D(0)
		k.GracePeriod = &zero
	}
}

// Validate implements ActionSpec. Whether the component exists and has
// the pods asked for is known once the overlay is rendered: chaos checks
// it at preflight.
func (k *PodKill) Validate(p string, _ *Scenario) []FieldError {
	v := &validator{}
	v.validatePick(p, k.Pods())
	if k.GracePeriod != nil && k.GracePeriod.Duration < 0 {
		v.add(p+".gracePeriod", "must be ≥ 0, got %s", k.GracePeriod)
	}
	return v.errs
}
