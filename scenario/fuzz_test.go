package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds the scenario decoder arbitrary files and one --set
// value. Whatever the input, Parse returns (no panic, no hang: the node
// budget bounds aliases), an error is a scenario error or a YAML one, a
// scenario it accepts validates, and a --set value never changes the
// file's structure: when both parse, the scenario with the value has as
// many chaos actions, assertions and components as the one without.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../suites/scenarios/*.yaml")
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, "RATE", "300")
	}
	f.Add([]byte(good), "RATE", "1\n  assertions: []")
	f.Add([]byte("a: &a [*a]"), "X", "")
	f.Add([]byte("spec: {load: {env: {A: \"${A:-1}\"}}}"), "A", "x")
	f.Add([]byte("spec: {chaos: [&c {name: n}, *c, *c]}"), "", "")
	f.Fuzz(func(t *testing.T, data []byte, name, value string) {
		if len(data) > MaxFileSize {
			return
		}
		base, baseErr := Parse(data, nil)
		checkParse(t, base, baseErr)
		if name == "" {
			return
		}
		s, err := Parse(data, map[string]string{name: value})
		checkParse(t, s, err)
		if err == nil && baseErr == nil {
			if len(s.Spec.Chaos) != len(base.Spec.Chaos) || len(s.Spec.Assertions) != len(base.Spec.Assertions) ||
				len(s.Spec.System.Components) != len(base.Spec.System.Components) {
				t.Errorf("--set %s=%q changed the scenario's structure", name, value)
			}
		}
	})
}

func checkParse(t *testing.T, s *Scenario, err error) {
	t.Helper()
	if err != nil {
		var errs Errors
		if errors.As(err, &errs) && len(errs) == 0 {
			t.Errorf("empty Errors")
		}
		if s != nil {
			t.Errorf("a scenario with an error")
		}
		return
	}
	if s == nil {
		t.Fatal("no scenario and no error")
	}
	if errs := Validate(s); len(errs) > 0 {
		t.Errorf("accepted a scenario that does not validate: %v", errs)
	}
}
