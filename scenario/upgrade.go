package scenario

import "slices"

// KindUpgrade is the key of an upgrade on an action.
const KindUpgrade = "upgrade"

// Migration timing relative to the rolling update.
const (
	MigrateBefore = "before"
	MigrateDuring = "during"
	MigrateAfter  = "after"
)

// Upgrade rolls the system to another release: another overlay applied
// over the running one (its images and settings), and/or components'
// images, args or env changed in place; with an optional migration Job.
type Upgrade struct {
	// Overlay, when set, is the release's kustomize directory (under
	// fixtures/), applied over the deployed system with spec.system's
	// component settings, then Components on top.
	Overlay string `yaml:"overlay,omitempty" json:"overlay,omitempty"`
	// Components maps a workload name to its new settings.
	Components map[string]Component `yaml:"components,omitempty" json:"components,omitempty"`
	Migration  *Migration           `yaml:"migration,omitempty" json:"migration,omitempty"`
	// Timeout bounds the whole upgrade (rollout and migration).
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Migration is a Job run as part of an upgrade.
type Migration struct {
	When    string            `yaml:"when" json:"when"`
	Image   string            `yaml:"image" json:"image"`
	Command []string          `yaml:"command,omitempty" json:"command,omitempty"`
	Args    []string          `yaml:"args,omitempty" json:"args,omitempty"`
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
}

// Kind implements ActionSpec.
func (u *Upgrade) Kind() string { return KindUpgrade }

// Default implements ActionSpec.
func (u *Upgrade) Default() {
	if u.Timeout.Duration == 0 {
		u.Timeout = D(DefaultUpgradeTimeout)
	}
}

// Validate implements ActionSpec.
func (u *Upgrade) Validate(p string, _ *Scenario) []FieldError {
	v := &validator{}
	if len(u.Components) == 0 && u.Overlay == "" {
		v.add(p, "set overlay (the release to roll to) or components (what to change), or both")
	}
	v.relPath(p+".overlay", u.Overlay, "fixtures/")
	for _, name := range sortedKeys(u.Components) {
		c := u.Components[name]
		cp := p + ".components." + name
		if !dnsLabel.MatchString(name) {
			v.add(cp, "component name must be a DNS label (the workload's name)")
		}
		if c.Image == "" && c.Args == nil && c.Env == nil && c.Replicas == nil && c.Resources == nil {
			v.add(cp, "nothing to change: set image, args, env, replicas or resources")
		}
		v.component(cp, c)
	}
	if m := u.Migration; m != nil {
		if !slices.Contains([]string{MigrateBefore, MigrateDuring, MigrateAfter}, m.When) {
			v.add(p+".migration.when", "must be before, during or after, got %q", m.When)
		}
		if m.Image == "" {
			v.add(p+".migration.image", "required")
		}
		for k := range m.Env {
			if !envName.MatchString(k) {
				v.add(p+".migration.env."+k, "not a valid environment variable name")
			}
		}
	}
	return v.errs
}
