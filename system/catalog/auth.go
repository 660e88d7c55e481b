package catalog

import (
	"context"
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/perfrun/perfrun/system/usage"
	"github.com/redis/go-redis/v9"
)

// authScript reads, in one round trip and one consistent snapshot, all an
// authorization needs: the service, the token check, the application (by id
// or user key), its keys, the service's metrics, the plan's limits and the
// application's usage in every period. The keys are built inside the script
// from the ids, which is fine on one Redis (the reference system's) but not
// on Redis Cluster.
//
// ARGV: service id, token or "", user key or "", app id or "", then the
// period stamps (usage.Period.Stamp) in usage.Periods order.
var authScript = redis.NewScript(authLua)

//go:embed auth.lua
var authLua string

// AuthRequest names what an authorization is about.
type AuthRequest struct {
	ServiceID    string
	ServiceToken string    // checked when not empty
	UserKey      string    // names the application on a backend_version 1 service
	AppID        string    // names it on any other
	At           time.Time // the usage periods read are those holding At
}

// UserKeyMode says whether a service of this backend_version names its
// applications by user key: Apisonator's `backend_version.to_i == 1` (so
// "1", " 1", "01" and "1x" do; "2", "oauth" and "" do not).
func UserKeyMode(backendVersion string) bool {
	s := strings.TrimLeft(backendVersion, " \t\n\v\f\r")
	s = strings.TrimPrefix(s, "+")
	s = strings.TrimLeft(s, "0")
	return len(s) > 0 && s[0] == '1' && (len(s) == 1 || s[1] < '0' || s[1] > '9')
}

// LoadAuth reads everything an authorization needs in one round trip. The
// application is the one req.UserKey maps to on a backend_version 1 service
// (UserKeyAppID, "" for an unknown or missing key) and req.AppID on any
// other. In the snapshot, Service is nil when the service does not exist,
// App is nil when the application does not, and Usage holds the
// application's usage per period at req.At.
func (s *Store) LoadAuth(ctx context.Context, req AuthRequest) (*Snapshot, error) {
	args := make([]any, 0, 4+len(usage.Periods))
	args = append(args, req.ServiceID, req.ServiceToken, req.UserKey, req.AppID)
	args = append(args, boxedStamps(req.At)...)
	res, err := authScript.Run(ctx, s.rdb, nil, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("loading service %s for authorization: %w", req.ServiceID, err)
	}
	if len(res) != 9 {
		return nil, fmt.Errorf("loading service %s: unexpected reply of %d parts", req.ServiceID, len(res))
	}
	snap := &Snapshot{}
	if f := strs(res[0], 3); f[0] != "" {
		snap.Service = &Service{ID: req.ServiceID, ProviderKey: f[0], State: f[1], BackendVersion: f[2]}
	}
	if n, _ := res[1].(int64); n == 1 {
		snap.TokenValid = true
	}
	aid, _ := res[2].(string)
	if snap.Service != nil && UserKeyMode(snap.Service.BackendVersion) {
		snap.UserKeyAppID = aid
	}
	if app, _ := res[3].([]any); len(app) == 0 {
		return snap, nil
	}
	f := strs(res[3], 4)
	snap.App = &Application{ServiceID: req.ServiceID, ID: aid, State: f[0], PlanID: f[1], PlanName: f[2], RedirectURL: f[3]}
	snap.AppKeys = stringList(res[4])
	names := pairs(res[5])
	snap.Metrics = Metrics{NameByID: names, Parent: pairs(res[6]), IDByName: make(map[string]string, len(names))}
	for id, n := range names {
		snap.Metrics.IDByName[n] = id
	}
	snap.Limits = parseLimits(pairs(res[7]))
	sortLimits(snap)
	// The script reads the usage of the limited periods only; the others
	// are left out of the map (a lookup there reads 0).
	per, _ := res[8].([]any)
	snap.Usage = make(map[usage.Period]map[string]int64, len(snap.Limits))
	for i, p := range usage.Periods {
		if i >= len(per) {
			break
		}
		xs, _ := per[i].([]any)
		if len(xs) < 2 {
			continue
		}
		m := make(map[string]int64, len(xs)/2)
		for j := 0; j+1 < len(xs); j += 2 {
			k, _ := xs[j].(string)
			v, _ := xs[j+1].(string)
			n, _ := strconv.ParseInt(v, 10, 64)
			m[k] = n
		}
		snap.Usage[p] = m
	}
	return snap, nil
}

// strs reads an HMGET reply from a script: n values, "" for those missing.
func strs(v any, n int) []string {
	xs, _ := v.([]any)
	out := make([]string, n)
	for i := 0; i < n && i < len(xs); i++ {
		out[i], _ = xs[i].(string)
	}
	return out
}

// boxed holds the period stamps of one minute as script arguments, so
// that each authorization does not box them again.
type boxed struct {
	src  *string
	args []any
}

var boxedCache atomic.Pointer[boxed]

func boxedStamps(t time.Time) []any {
	st := usage.Stamps(t)
	if c := boxedCache.Load(); c != nil && c.src == &st[0] {
		return c.args
	}
	c := &boxed{src: &st[0], args: make([]any, len(st))}
	for i, x := range st {
		c.args[i] = x
	}
	boxedCache.Store(c)
	return c.args
}

func sortLimits(snap *Snapshot) {
	sort.Slice(snap.Limits, func(i, j int) bool {
		a, b := snap.Limits[i], snap.Limits[j]
		na, nb := snap.Metrics.NameByID[a.MetricID], snap.Metrics.NameByID[b.MetricID]
		if na != nb {
			return na < nb
		}
		return periodIndex(a.Period) < periodIndex(b.Period)
	})
}

// pairs turns a flat HGETALL reply from a script into a map.
func pairs(v any) map[string]string {
	xs, _ := v.([]any)
	m := make(map[string]string, len(xs)/2)
	for i := 0; i+1 < len(xs); i += 2 {
		k, _ := xs[i].(string)
		val, _ := xs[i+1].(string)
		m[k] = val
	}
	return m
}

func stringList(v any) []string {
	xs, _ := v.([]any)
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
