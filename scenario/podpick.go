package scenario

// PodPick is which pods of a component a pod action takes: the pod of a
// StatefulSet ordinal, a count or a percentage picked at random (seeded).
// Pod actions (podKill, podFailure) spell these fields the same way.
type PodPick struct {
	Component string
	Count     *int
	Ordinal   *int
	Percent   *int
	Seed      *int64
}

// defaultPick: one pod when the action says neither count, ordinal nor
// percent.
func defaultPick(count, ordinal, percent **int) {
	if *count == nil && *ordinal == nil && *percent == nil {
		one := 1
		*count = &one
	}
}

// validatePick checks the fields of a pod pick under p.
func (v *validator) validatePick(p string, k PodPick) {
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
}
