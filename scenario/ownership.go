package scenario

// ExclusiveOwnership: every key is reconciled by its one owner only. The
// value is the number of keys that more than one replica (pod name)
// reconciled over the run, read from the system's count of them
// (Metrics.SharedItems) at the end of the drain; it must be at most Max.
//
// The claim holds where a key's owner never changes: a controller sharded
// by StatefulSet ordinal, whose restarted pod comes back under its name and
// so is still the one owner. A split brain (two replicas both reconciling
// one bucket's keys) is caught even when every key is served and the
// reconciles stay even. Where ownership moves by design (leader election:
// a lease that moves hands its keys to a new owner) the claim does not
// apply; the reference controller exports its count there under
// mode="leader-election", which the contract's selector leaves out, and the
// assertion is an error saying so.
type ExclusiveOwnership struct {
	// Max is how many keys may have more than one reconciler (default 0).
	Max int `yaml:"max,omitempty" json:"max,omitempty"`
}

func (v *validator) exclusiveOwnership(p string, o *ExclusiveOwnership) {
	if o.Max < 0 {
		v.add(p+".exclusiveOwnership.max", "must be ≥ 0 (keys reconciled by more than one replica), got %d", o.Max)
	}
}
