package chaos

import "time"

// Event is what one chaos action did and when: the record that results,
// assertions ({{.chaos.NAME.start}}) and the report use.
type Event struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // podKill, upgrade
	// Planned is the offset from load start the scenario asked for.
	Planned time.Duration `json:"plannedNs"`
	Start   time.Time     `json:"start"`
	End     time.Time     `json:"end"`
	// Pods killed, or workloads rolled, in the order acted on.
	Targets []string `json:"targets,omitempty"`
	// Steps are the parts of a compound action (rollout, migration), each
	// with its own start and end.
	Steps []Step `json:"steps,omitempty"`
	Error string `json:"error,omitempty"`
}

// Step is one timed part of an action.
type Step struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Error string    `json:"error,omitempty"`
}
