package loadgen

import (
	"maps"
	"slices"
	"strconv"
	"time"
)

// invocation is one `k6 run` command line. Every k6 a run starts, here or
// in a Job, is built by it, so the two ways cannot drift apart in the
// flags, tags and remote-write settings they give k6.
type invocation struct {
	// testID tags every sample (testid=...) so that queries select the run;
	// empty for the provisioning Job, whose samples nobody reads.
	testID string
	// flags are the way's own flags (--summary-export, --paused, segments).
	flags []string
	// tags are extra --tag NAME=VALUE, in order.
	tags []string
	// remoteWrite sends samples to the run's Prometheus.
	remoteWrite bool
	// env is the scenario's -e (spec.load.env over the harness's defaults);
	// own are the harness's -e that the scenario may not override (TARGETS
	// points the load at the system: a scenario cannot send it elsewhere).
	env, own map[string]string
	script   string
}

func (inv invocation) args() []string {
	args := append([]string{"run", "--quiet", "--no-color"}, inv.flags...)
	if inv.testID != "" {
		args = append(args, "--tag", "testid="+inv.testID)
	}
	for _, t := range inv.tags {
		args = append(args, "--tag", t)
	}
	if inv.remoteWrite {
		args = append(args, "-o", "experimental-prometheus-rw")
	}
	args = append(args, envArgs(inv.env, inv.own)...)
	return append(args, inv.script)
}

// envArgs is -e KEY=VALUE for env and own (own wins), sorted.
func envArgs(env, own map[string]string) []string {
	all := maps.Clone(env)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, own)
	var args []string
	for _, k := range slices.Sorted(maps.Keys(all)) {
		args = append(args, "-e", k+"="+all[k])
	}
	return args
}

// Remote-write settings. k6 writes its trends as native histograms, one k6
// here and generators alike: percentiles of generators' slices do not add
// up and summed histograms do, and k6's trend stats (trendStats, the
// k6_*_p95 gauges) are cumulative since the load's start, so a pod kill's
// dip would not show in them. The dashboards and the report read the
// histograms and fall back to the stats for a k6 that writes those.
const (
	pushInterval = "5s"
	trendStats   = "p(50),p(95),p(99),avg,max"
	// summaryTrendStats are the local summary's stats: p(99) too, for
	// perfrun compare's latency rows.
	summaryTrendStats = "avg,min,med,max,p(90),p(95),p(99)"
)

// k6Environ is k6's own environment (not the script's -e): remote write to
// url (none when empty) and no usage report, ever: nothing leaves the
// machine.
func k6Environ(url string, nativeHistograms bool) map[string]string {
	env := map[string]string{"K6_NO_USAGE_REPORT": "true"}
	if url == "" {
		return env
	}
	env["K6_PROMETHEUS_RW_SERVER_URL"] = url
	env["K6_PROMETHEUS_RW_PUSH_INTERVAL"] = pushInterval
	if nativeHistograms {
		env["K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM"] = "true"
	} else {
		env["K6_PROMETHEUS_RW_TREND_STATS"] = trendStats
	}
	return env
}

// k6Duration writes d as the scripts' DURATION: whole seconds ("60s", not
// Go's "1m0s", which fixtures/load/lib.js's seconds() also reads, but
// scripts users wrote against k6's own examples may not).
func k6Duration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
