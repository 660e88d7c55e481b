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

// Default implements ActionSpec: one pod, killed at once.
func (k *PodKill) Default() {
	if k.Count == nil && k.Ordinal == nil && k.Percent == nil {
		one := 1
		k.Count = &one
	}
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
	if k.Component == "" {
		v.add(p+".component", "required")
	} else if !dnsLabel.MatchString(k.Component) {
		v.add(p+".component", "must be a workload name (DNS label), got %q", k.Component)
	}
	set := 0
	if k.Count != nil {
		set++
		if *k.Count < 1 {
			v.add(p+".count", "must be ≥ 1, got %d", *k.Count)
		}
	}
	if k.Ordinal != nil {
		set++
		if *k.Ordinal < 0 {
			v.add(p+".ordinal", "must be ≥ 0, got %d", *k.Ordinal)
		}
	}
	if k.Percent != nil {
		set++
		if *k.Percent < 1 || *k.Percent > 100 {
			v.add(p+".percent", "must be 1..100, got %d", *k.Percent)
		}
	}
	if set > 1 {
		v.add(p, "at most one of count, ordinal, percent may be set")
	}
	return v.errs
}
