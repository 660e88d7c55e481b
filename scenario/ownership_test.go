package scenario

import (
	"strings"
	"testing"
	"time"
)

// ownershipGood is good with two exclusiveOwnership assertions added
// (indexes 5 and 6): one with its default, one with a max.
const ownershipGood = good + `    - name: one-owner
      exclusiveOwnership: {}
    - name: few-owners
      exclusiveOwnership: {max: 3}
`

func TestExclusiveOwnership(t *testing.T) {
	s, err := Parse([]byte(ownershipGood), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := s.Spec.Assertions[5].ExclusiveOwnership; o == nil || o.Max != 0 {
		t.Errorf("exclusiveOwnership {} = %+v, want max 0", o)
	}
	if o := s.Spec.Assertions[6].ExclusiveOwnership; o == nil || o.Max != 3 {
		t.Errorf("exclusiveOwnership {max: 3} = %+v", o)
	}
	if got, want := s.Spec.System.Metrics.SharedItems, `perfrun_controller_items_shared{namespace="{{.namespace}}",mode="statefulset"}`; got != want {
		t.Errorf("default sharedItems = %s, want %s", got, want)
	}
}

func TestExclusiveOwnershipErrors(t *testing.T) {
	const old = "exclusiveOwnership: {max: 3}"
	cases := []struct {
		name, old, new string
		want           []string
	}{
		{"negative", old, "exclusiveOwnership: {max: -1}", []string{"spec.assertions[6].exclusiveOwnership.max: must be ≥ 0 (keys reconciled by more than one replica), got -1"}},
		{"fraction", old, "exclusiveOwnership: {max: 0.5}", []string{"spec.assertions[6].exclusiveOwnership.max (line 43): want an integer"}},
		{"unknown field", old, "exclusiveOwnership: {max: 0, mode: statefulset}", []string{"spec.assertions[6].exclusiveOwnership.mode (line 43): unknown field (known: max)"}},
		{"bound", old, "exclusiveOwnership: {}\n      bound: 0", []string{"spec.assertions[6].bound: only with query"}},
		{"two kinds", old, "exclusiveOwnership: {}\n      throughput: {floor: 1}", []string{"spec.assertions[6]: exactly one of query, throughput, evenDistribution, disruption, noLoss, coreUtilization, exclusiveOwnership, objectLatency, objectDisruption must be set, got 2"}},
		{"null", old, "exclusiveOwnership:", []string{"spec.assertions[6]: exactly one of"}},
		{"contract", "  system:\n", "  system:\n    metrics: {sharedItems: 'sum(x)'}\n", []string{"spec.system.metrics.sharedItems: "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(ownershipGood, tc.old, tc.new, 1)
			if src == ownershipGood {
				t.Fatalf("%q is not in the scenario", tc.old)
			}
			_, err := Parse([]byte(src), nil)
			if err == nil {
				t.Fatal("Parse accepted a bad scenario")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// .untilDrained spans the load and the drain: from the start to the end of
// the drain, or to the end of the load when the drain ended before it.
func TestUntilDrained(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		drained time.Time
		want    string
	}{
		{t0.Add(95 * time.Second), "95s"},
		{t0.Add(30 * time.Second), "60s"},
		{time.Time{}, "60s"},
	} {
		w := Window{Start: t0, End: t0.Add(time.Minute), Drained: tc.drained}
		if got, err := Expand("{{.untilDrained}}", w); err != nil || got != tc.want {
			t.Errorf("drained %v: untilDrained = %q, %v; want %s", tc.drained, got, err, tc.want)
		}
	}
}
