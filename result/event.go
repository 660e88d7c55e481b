package result

import "time"

// Event is what one chaos action did and when: the record that results,
// assertions ({{.chaos.NAME.start}}) and the report use. Package chaos
// makes them; it lives here so that reading results (compare, report)
// needs nothing of Kubernetes.
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
	Steps []ActionStep `json:"steps,omitempty"`
	Error string       `json:"error,omitempty"`
}

// ActionStep is one timed part of a chaos action.
type ActionStep struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Error string    `json:"error,omitempty"`
}
