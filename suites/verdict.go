package suites

import (
	"fmt"
	"slices"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/suites/accuracy"
)

// PropertyVerdict is the verdict a run gives a property: the assertions
// named carry it. It is Fail when one of them failed, Pass when all of them
// passed, and Error when the harness failed, an assertion is missing from
// the result, or one could not be evaluated (an undecided run is never
// counted as a right verdict). failed lists every failed assertion of the
// run, the property's and the others (k6 thresholds...).
func PropertyVerdict(res *result.Run, runErr error, names []string) (got string, failed []string, why string) {
	if res != nil {
		for _, a := range res.Assertions {
			if a.Status == assertions.Fail {
				failed = append(failed, a.Name)
			}
		}
	}
	switch {
	case runErr != nil:
		return accuracy.Error, failed, runErr.Error()
	case res == nil:
		return accuracy.Error, failed, "no result"
	case len(names) == 0:
		// The whole run decides (smoke).
		switch res.Verdict {
		case result.VerdictPass:
			return accuracy.Pass, failed, ""
		case result.VerdictFail:
			return accuracy.Fail, failed, ""
		}
		return accuracy.Error, failed, fmt.Sprintf("run verdict %q: %s", res.Verdict, res.Error)
	}
	got = accuracy.Pass
	for _, n := range names {
		i := slices.IndexFunc(res.Assertions, func(a assertions.Result) bool { return a.Name == n })
		if i < 0 {
			return accuracy.Error, failed, fmt.Sprintf("assertion %q is not in the result", n)
		}
		switch a := res.Assertions[i]; a.Status {
		case assertions.Pass:
		case assertions.Fail:
			got = accuracy.Fail
		default:
			return accuracy.Error, failed, fmt.Sprintf("assertion %q: %s %s", n, a.Status, a.Error)
		}
	}
	return got, failed, ""
}
