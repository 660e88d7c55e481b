package scenario

import (
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"time"
)

func smoke(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("../suites/scenarios/smoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Values go into the parsed scalars: typed where the scalar is a plain
// reference, strings elsewhere, and never more than one scalar.
func TestVariablesSubstituteScalars(t *testing.T) {
	s, err := Parse(smoke(t), map[string]string{"RATE": "500", "FLOOR": "400.5"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Spec.Load.Env["RATE"]; got != "500" {
		t.Errorf("RATE = %q", got)
	}
	if got := s.Spec.Assertions[0].Throughput.Floor; got != 400.5 {
		t.Errorf("floor = %g, want 400.5 from a plain reference in a flow mapping", got)
	}
	// A newline cannot add an assertion, a key or a document: the value
	// is one string (and here it is refused, RATE's default being a number).
	inj := "200\"}\n  assertions: [{name: x, query: up, op: \">\", bound: 0}]\n#"
	if _, err := Parse(smoke(t), map[string]string{"RATE": inj}); err == nil || !strings.Contains(err.Error(), "spec.load.env.RATE") {
		t.Errorf("injection through RATE: %v", err)
	}
	src := strings.Replace(string(smoke(t)), "APPS: \"50\"", "APPS: \"50\"\n      NOTE: \"${NOTE:-x}\"", 1)
	s, err = Parse([]byte(src), map[string]string{"NOTE": "a\nassertions: []\n- b: c"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Spec.Load.Env["NOTE"]; got != "a\nassertions: []\n- b: c" || len(s.Spec.Assertions) != 3 {
		t.Errorf("NOTE = %q, %d assertions: a value must stay one scalar", got, len(s.Spec.Assertions))
	}
}

func TestVariableErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string // replaces smoke's throughput line when set
		vars map[string]string
		want string
	}{
		{"numeric default", "", map[string]string{"RATE": "abc"}, `spec.load.env.RATE (line 21): --set RATE="abc": ${RATE:-200} has a numeric default, so RATE takes a number`},
		{"typed field", "", map[string]string{"FLOOR": "abc"}, `spec.assertions[0].throughput.floor`},
		{"typed field, YAML value", "", map[string]string{"FLOOR": "[1, 2]"}, `spec.assertions[0].throughput.floor`},
		{"unused", "", map[string]string{"RAET": "5"}, "--set RAET: the scenario has no ${RAET} to set"},
		{"missing", "throughput: {floor: ${FLOOR}, skip: 10s}", nil, "spec.assertions[0].throughput.floor (line 34): scenario variable FLOOR not set and without default"},
		{"quoted is a string", `throughput: {floor: "${FLOOR:-150}", skip: 10s}`, nil, `spec.assertions[0].throughput.floor (line 34): want a number, got "150" (unquoted)`},
		{"key", "${KEY:-throughput}: {floor: 1}", nil, "spec.assertions[0].${KEY:-throughput} (line 34): a scenario variable may only be a value, not a key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := string(smoke(t))
			if tc.src != "" {
				src = strings.Replace(src, "throughput: {floor: ${FLOOR:-150}, skip: 10s}", tc.src, 1)
			}
			_, err := Parse([]byte(src), tc.vars)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	// A reference in a comment is no reference.
	src := "# ${NOT_A_VAR}\n" + string(smoke(t))
	if _, err := Parse([]byte(src), nil); err != nil {
		t.Errorf("a comment's ${}: %v", err)
	}
}

func TestSizeBound(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	if _, err := Parse(big, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big scenario: %v", err)
	}
	if _, err := LoadFile("/dev/zero", nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("/dev/zero: %v", err)
	}
}

// Aliases expand: 300 actions × 300 components × 300 args is 27 million
// nodes from a file of 20 kB. The checker stops at its budget, at once.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("spec:\n  chaos:\n    - &A {name: n, at: 1s, upgrade: {components: {c0: &C {args: &L [a")
	b.WriteString(strings.Repeat(", a", 299) + "]}")
	for i := 1; i < 300; i++ {
		fmt.Fprintf(&b, ", c%d: *C", i)
	}
	b.WriteString("}}}\n" + strings.Repeat("    - *A\n", 299))
	began := time.Now()
	_, err := Parse([]byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "YAML nodes once aliases are expanded") {
		t.Errorf("alias bomb: %v", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("alias bomb took %s", d)
	}
}
func TestVars(t *testing.T) {
	src := []byte("rate: ${RATE:-200}\nvus: ${VUS:-10}\nname: ${NAME}\nagain: ${RATE:-300}\n")
	got := Vars(src, map[string]string{"VUS": "20", "NAME": "x", "UNUSED": "1"})
	want := map[string]string{"RATE": "200", "VUS": "20", "NAME": "x"}
	if !maps.Equal(got, want) {
		t.Errorf("Vars = %v, want %v", got, want)
	}
	if got := Vars([]byte("no references"), nil); len(got) != 0 {
		t.Errorf("no references: %v", got)
	}
}
