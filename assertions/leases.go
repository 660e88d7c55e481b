package assertions

import "github.com/perfrun/perfrun/objects"

// withLeases adds who held the namespace's Leases to a failed assertion's
// description: work spread unevenly over leader-elected replicas is most
// often one replica holding every lease (the survivor of a restart).
func withLeases(env *Env, r Result) Result {
	if r.Status != Fail || env.Leases == nil {
		return r
	}
	spans := env.Leases()
	if len(spans) == 0 {
		return r
	}
	leases := "leases: " + objects.Summarize(spans).Describe(env.Window.Start)
	if r.Description == "" {
		r.Description = leases
	} else {
		r.Description += "; " + leases
	}
	return r
}
