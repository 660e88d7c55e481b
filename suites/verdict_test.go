package suites

import (
	"errors"
	"slices"
	"testing"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/suites/accuracy"
)

func run(verdict string, as ...assertions.Result) *result.Run {
	return &result.Run{Verdict: verdict, Assertions: as}
}

func a(name, status string) assertions.Result { return assertions.Result{Name: name, Status: status} }

func TestPropertyVerdict(t *testing.T) {
	for _, tc := range []struct {
		name       string
		res        *result.Run
		err        error
		names      []string
		want       string
		wantFailed []string
	}{
		{"property passes", run(result.VerdictPass, a("no-loss", assertions.Pass)), nil, []string{"no-loss"}, accuracy.Pass, nil},
		{"property fails", run(result.VerdictFail, a("no-loss", assertions.Fail)), nil, []string{"no-loss"}, accuracy.Fail, []string{"no-loss"}},
		// A threshold failing beside a passing property does not make the
		// property fail (the good-mode spec checks the whole run too).
		{"other assertion fails", run(result.VerdictFail, a("no-loss", assertions.Pass), a("k6:checks", assertions.Fail)), nil, []string{"no-loss"}, accuracy.Pass, []string{"k6:checks"}},
		{"one of two fails", run(result.VerdictFail, a("even-reconciles", assertions.Pass), a("even-buckets", assertions.Fail)), nil, []string{"even-reconciles", "even-buckets"}, accuracy.Fail, []string{"even-buckets"}},
		{"undecided assertion", run(result.VerdictError, a("no-loss", assertions.Error)), nil, []string{"no-loss"}, accuracy.Error, nil},
		{"missing assertion", run(result.VerdictPass, a("throughput", assertions.Pass)), nil, []string{"no-loss"}, accuracy.Error, nil},
		{"harness error", run(result.VerdictError, a("no-loss", assertions.Fail)), errors.New("deploy: timeout"), []string{"no-loss"}, accuracy.Error, []string{"no-loss"}},
		{"no result", nil, nil, []string{"no-loss"}, accuracy.Error, nil},
		{"whole run passes", run(result.VerdictPass, a("x", assertions.Pass)), nil, nil, accuracy.Pass, nil},
		{"whole run fails", run(result.VerdictFail, a("x", assertions.Fail)), nil, nil, accuracy.Fail, []string{"x"}},
		{"whole run undecided", run(result.VerdictError), nil, nil, accuracy.Error, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, failed, why := PropertyVerdict(tc.res, tc.err, tc.names)
			if got != tc.want || !slices.Equal(failed, tc.wantFailed) {
				t.Errorf("got %s %v (%s), want %s %v", got, failed, why, tc.want, tc.wantFailed)
			}
			if (got == accuracy.Error) != (why != "") {
				t.Errorf("an undecided verdict, and only it, says why: %q", why)
			}
		})
	}
}

func TestPairsCatalog(t *testing.T) {
	props := map[string]bool{}
	ci := 0
	for _, p := range Pairs {
		if props[p.Property] {
			t.Errorf("property %s twice", p.Property)
		}
		props[p.Property] = true
		if p.Good.Scenario == p.Bad.Scenario || len(p.Good.Assertions) == 0 || len(p.Bad.Assertions) == 0 {
			t.Errorf("%s: a pair needs two scenarios and the assertions that decide each", p.Property)
		}
		if p.CI {
			ci++
		}
	}
	for _, want := range []string{"throughput", "distribution", "disruption", "ownership", "upgrade", "no-loss", "core-utilization"} {
		if !props[want] {
			t.Errorf("no pair for %s", want)
		}
	}
	if ci != 1 {
		t.Errorf("%d pairs in CI, want exactly one", ci)
	}
	if Want(accuracy.ModeBad) != accuracy.Fail || Want(accuracy.ModeGood) != accuracy.Pass {
		t.Error("Want")
	}
}
