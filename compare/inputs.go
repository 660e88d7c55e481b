package compare

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/perfrun/perfrun/result"
)

// Input keys: what compare checks is the same on every run before it
// compares their figures. A key names one input; a family alone (set, env,
// image, args, replicas) stands for every key under it, and so does a
// workload (image.listener: each of its containers).
const (
	// KeyScenario is the scenario file's digest, as written (before ${NAME}).
	KeyScenario = "scenario"
	// KeyPerfrun is the version of perfrun that ran it.
	KeyPerfrun = "perfrun"
	// KeySet is set.NAME: a ${NAME} of the file as resolved (--set or default).
	KeySet = "set"
	// KeyEnv is env.NAME: spec.load.env as k6 got it.
	KeyEnv = "env"
	// KeyImage is image.WORKLOAD/CONTAINER: the image deployed.
	KeyImage = "image"
	// KeyArgs is args.WORKLOAD/CONTAINER: command and args as deployed.
	KeyArgs = "args"
	// KeyReplicas is replicas.WORKLOAD.
	KeyReplicas = "replicas"
)

// InputKeys are the key families, for help and errors.
var InputKeys = []string{KeyScenario, KeyPerfrun, KeySet, KeyEnv, KeyImage, KeyArgs, KeyReplicas}

// unset is how a key that one run has and another lacks reads.
const unset = "(unset)"

// inputsOf flattens what a run records of its inputs into keys. The
// load's env is in every result (the scenario is recorded after
// substitution); the rest only in results that record Inputs (known).
func inputsOf(r *result.Run) (keys map[string]string, known bool) {
	keys = map[string]string{}
	if r.Scenario != nil {
		for k, v := range r.Scenario.Spec.Load.Env {
			keys[KeyEnv+"."+k] = v
		}
	}
	in := r.Inputs
	if in == nil {
		return keys, false
	}
	keys[KeyScenario] = in.ScenarioDigest
	keys[KeyPerfrun] = in.Perfrun
	for k, v := range in.Vars {
		keys[KeySet+"."+k] = v
	}
	for w, c := range in.Components {
		keys[KeyReplicas+"."+w] = strconv.Itoa(int(c.Replicas))
		for n, ct := range c.Containers {
			keys[KeyImage+"."+w+"/"+n] = ct.Image
			args, _ := json.Marshal(slices.Concat(ct.Command, ct.Args))
			keys[KeyArgs+"."+w+"/"+n] = string(args)
		}
	}
	return keys, true
}

// family is the key family an --allow-different key names.
func family(key string) string {
	if i := strings.IndexAny(key, "./"); i >= 0 {
		return key[:i]
	}
	return key
}

// checkAllow refuses --allow-different keys that name no input.
func checkAllow(allow []string) error {
	var bad []string
	for _, a := range allow {
		f := family(a)
		switch {
		case !slices.Contains(InputKeys, f),
			(f == KeyScenario || f == KeyPerfrun) && a != f,
			strings.HasSuffix(a, ".") || strings.HasSuffix(a, "/"):
			bad = append(bad, strconv.Quote(a))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("--allow-different %s: not an input key (want %s, %s, set.NAME, env.NAME, image.WORKLOAD[/CONTAINER], args.WORKLOAD[/CONTAINER], replicas.WORKLOAD, or a family alone: set, env, image, args, replicas)",
			strings.Join(bad, ", "), KeyScenario, KeyPerfrun)
	}
	return nil
}

// allowed says whether an --allow-different key covers the input key.
func allowed(key string, allow []string) bool {
	for _, a := range allow {
		if key == a || strings.HasPrefix(key, a+".") || strings.HasPrefix(key, a+"/") {
			return true
		}
	}
	return false
}

// Difference is one input that is not the same on every run: each value
// it took, with the runs that had it, in the order they were given.
type Difference struct {
	Key    string       `json:"key"`
	Values []InputValue `json:"values"`
}

// InputValue is one value of a differing input and the runs that had it.
type InputValue struct {
	Value string   `json:"value"`
	Runs  []string `json:"runs"`
}

func (d Difference) String() string {
	parts := make([]string, len(d.Values))
	for i, v := range d.Values {
		runs := v.Runs
		more := ""
		if len(runs) > 3 {
			runs, more = runs[:3], fmt.Sprintf(" and %d more", len(v.Runs)-3)
		}
		parts[i] = fmt.Sprintf("%q in %s%s", v.Value, strings.Join(runs, ", "), more)
	}
	return d.Key + ": " + strings.Join(parts, "; ")
}

// InputsError is compare's refusal of runs whose inputs differ.
type InputsError struct {
	Differences []Difference
}

func (e *InputsError) Error() string {
	keys := make([]string, len(e.Differences))
	lines := make([]string, len(e.Differences))
	for i, d := range e.Differences {
		keys[i] = d.Key
		lines[i] = "  " + d.String()
	}
	return fmt.Sprintf("refusing to compare runs whose inputs differ: %s\n%s\nif a difference is intended (a release comparison changes images), say so: --allow-different KEY for each (a family such as image allows every key under it)",
		strings.Join(keys, ", "), strings.Join(lines, "\n"))
}

// differences are the inputs not the same on every run that records
// them. A run without recorded inputs takes part only in env.
func differences(runs []Run) []Difference {
	type rec struct {
		keys  map[string]string
		known bool
	}
	recs := make([]rec, len(runs))
	all := map[string]bool{}
	for i, r := range runs {
		recs[i].keys, recs[i].known = inputsOf(r.Result)
		for k := range recs[i].keys {
			all[k] = true
		}
	}
	var out []Difference
	for _, k := range slices.Sorted(maps.Keys(all)) {
		var d Difference
		for i, r := range runs {
			if !recs[i].known && family(k) != KeyEnv {
				continue
			}
			v, ok := recs[i].keys[k]
			if !ok {
				v = unset
			}
			j := slices.IndexFunc(d.Values, func(iv InputValue) bool { return iv.Value == v })
			if j < 0 {
				d.Values = append(d.Values, InputValue{Value: v})
				j = len(d.Values) - 1
			}
			d.Values[j].Runs = append(d.Values[j].Runs, r.Dir)
		}
		if len(d.Values) > 1 {
			d.Key = k
			out = append(out, d)
		}
	}
	return out
}

// checkInputs refuses runs whose inputs differ beyond what allow names,
// and returns the differences allow named.
func checkInputs(runs []Run, allow []string) (intended []Difference, err error) {
	var refused []Difference
	for _, d := range differences(runs) {
		if allowed(d.Key, allow) {
			intended = append(intended, d)
		} else {
			refused = append(refused, d)
		}
	}
	if len(refused) > 0 {
		return nil, &InputsError{Differences: refused}
	}
	return intended, nil
}

// ErrNoUsableRuns is wrapped by the error of a side left with no run that
// reached a verdict.
var ErrNoUsableRuns = errors.New("no run that reached a verdict")
