package compare

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
)

// Run is one result folder as compare sees it.
type Run struct {
	Dir    string
	Result *result.Run
	// Values are the run's measured metrics by name.
	Values map[string]Value
}

// Value is one metric of one run.
type Value struct {
	Name string
	Kind string
	// Op is the assertion's comparison, when the metric is an assertion's;
	// it says which way is better when no tolerance rule does.
	Op string
	V  float64
}

// Load reads result folders (each holding result.json, and k6-summary.json
// when k6 wrote one). A folder without result.json whose subfolders are
// result folders (what perfrun run --count writes) stands for all of them,
// in name order. It checks that every run has the same schema version
// before decoding, so that the error says what differs.
func Load(dirs []string) ([]Run, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no result folder given")
	}
	runs := make([]Run, 0, len(dirs))
	for _, d := range dirs {
		set, err := expand(d)
		if err != nil {
			return nil, err
		}
		for _, d := range set {
			r, err := LoadRun(d)
			if err != nil {
				return nil, err
			}
			runs = append(runs, r)
		}
	}
	return runs, nil
}

// expand is a result folder itself, or the result folders in a folder of
// runs.
func expand(dir string) ([]string, error) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return []string{dir}, nil // LoadRun says what is wrong, or reads a result.json named directly
	}
	if _, err := os.Stat(filepath.Join(dir, result.ResultFile)); err == nil {
		return []string{dir}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, result.ResultFile)); e.IsDir() && err == nil {
			out = append(out, sub)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no %s in it, nor in any folder in it: not a result folder or a folder of them", dir, result.ResultFile)
	}
	return out, nil
}

// LoadRun reads one result folder.
func LoadRun(dir string) (Run, error) {
	path := filepath.Join(dir, result.ResultFile)
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		path, dir = dir, filepath.Dir(dir) // a result.json named directly
	}
	if v, err := schemaOf(path); err != nil {
		return Run{}, err
	} else if v != result.SchemaVersion {
		return Run{}, fmt.Errorf("%s: schemaVersion %q; this perfrun compares only %q results (re-run, or use the perfrun that wrote it)", path, v, result.SchemaVersion)
	}
	res, err := result.Read(path)
	if err != nil {
		return Run{}, err
	}
	run := Run{Dir: dir, Result: res, Values: map[string]Value{}}
	for _, a := range res.Assertions {
		if a.Value == nil || a.Status == assertions.Error || math.IsNaN(*a.Value) {
			continue
		}
		run.Values[a.Name] = Value{Name: a.Name, Kind: a.Kind, Op: a.Op, V: *a.Value}
	}
	k6, err := readK6Summary(filepath.Join(dir, result.K6Summary))
	if err != nil {
		return Run{}, err
	}
	for _, v := range k6 {
		if _, taken := run.Values[v.Name]; !taken {
			run.Values[v.Name] = v
		}
	}
	return run, nil
}

func schemaOf(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading result: %w", err)
	}
	var head struct {
		SchemaVersion string `json:"schemaVersion"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return "", fmt.Errorf("decoding %s: %w", path, err)
	}
	return head.SchemaVersion, nil
}

// k6 metrics compare takes from the summary, with their kinds: k6's own
// http_* when the script used k6/http, and the k6/x/backend extension's
// backend_* (perfrun's scripts call the system through its client, which
// k6's http_* do not see).
var k6Metrics = []struct {
	name, kind, metric, stat string
	scale                    float64
}{
	{"k6 http_reqs/s", KindThroughput, "http_reqs", "rate", 1},
	{"k6 http_req_duration p(95) s", KindLatencyP95, "http_req_duration", "p(95)", 1e-3},
	{"k6 http_req_duration p(99) s", KindLatencyP99, "http_req_duration", "p(99)", 1e-3},
	{"k6 http_req_failed rate", KindErrorRate, "http_req_failed", "rate", 1},
	{"k6 backend calls/s", KindThroughput, "backend_results", "rate", 1},
	{"k6 backend_call_duration p(95) s", KindLatencyP95, "backend_call_duration", "p(95)", 1e-3},
	{"k6 backend_call_duration p(99) s", KindLatencyP99, "backend_call_duration", "p(99)", 1e-3},
	{"k6 backend_item_deadline_missed rate", KindErrorRate, "backend_item_deadline_missed", "rate", 1},
}

// Names of the k6 metrics that tests and tolerance files refer to.
const (
	K6Throughput = "k6 http_reqs/s"
	K6LatencyP95 = "k6 http_req_duration p(95) s"
	K6LatencyP99 = "k6 http_req_duration p(99) s"
	K6ErrorRate  = "k6 http_req_failed rate"
)

// readK6Summary reads the k6 summary if there is one. It understands both
// shapes k6 writes: --summary-export (metrics.NAME.{rate,p(95),value}) and
// handleSummary's data (metrics.NAME.values.{...}). Durations are in ms
// there; compare keeps seconds, as Prometheus does.
func readK6Summary(path string) ([]Value, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading k6 summary: %w", err)
	}
	var s struct {
		Metrics map[string]map[string]json.RawMessage `json:"metrics"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	stat := func(metric, key string) (float64, bool) {
		m, ok := s.Metrics[metric]
		if !ok {
			return 0, false
		}
		if raw, ok := m["values"]; ok {
			var vals map[string]float64
			if json.Unmarshal(raw, &vals) == nil {
				v, ok := vals[key]
				return v, ok
			}
		}
		var v float64
		raw, ok := m[key]
		if !ok || json.Unmarshal(raw, &v) != nil {
			return 0, false
		}
		return v, true
	}
	var out []Value
	for _, m := range k6Metrics {
		v, ok := stat(m.metric, m.stat)
		if !ok && m.stat == "rate" {
			v, ok = stat(m.metric, "value") // --summary-export writes a Rate's as value
		}
		if ok && !math.IsNaN(v) {
			out = append(out, Value{Name: m.name, Kind: m.kind, V: v * m.scale})
		}
	}
	return out, nil
}
