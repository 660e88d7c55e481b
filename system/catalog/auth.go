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
	raw, err := authScript.Run(ctx, s.rdb, nil, args...).Text()
	if err != nil {
		return nil, fmt.Errorf("loading service %s for authorization: %w", req.ServiceID, err)
	}
	snap, err := readAuthReply(raw, req)
	if err != nil {
		return nil, fmt.Errorf("loading service %s: auth.lua's reply: %w", req.ServiceID, err)
	}
	return snap, nil
}

// readAuthReply decodes auth.lua's reply: its nine parts packed by
// cmsgpack, one MessagePack string. The strings it keeps are slices of raw,
// so a field costs no allocation of its own.
func readAuthReply(raw string, req AuthRequest) (*Snapshot, error) {
	r := authReply{s: raw}
	if n := r.list(); n != 9 && r.err == nil {
		return nil, fmt.Errorf("%d parts, want 9", n)
	}
	snap := &Snapshot{}
	svc := r.fixed(3)
	tok := r.integer()
	aid, _ := r.str()
	app := r.fixed(4)
	if r.err != nil {
		return nil, r.err
	}
	if svc != nil && svc[0] != "" {
		snap.Service = &Service{ID: req.ServiceID, ProviderKey: svc[0], State: svc[1], BackendVersion: svc[2]}
	}
	snap.TokenValid = tok == 1
	if snap.Service != nil && UserKeyMode(snap.Service.BackendVersion) {
		snap.UserKeyAppID = aid
	}
	if app == nil {
		// no application: the rest are empty lists
		for i := 0; i < 5; i++ {
			r.skipList()
		}
		if err := r.end(); err != nil {
			return nil, err
		}
		return snap, nil
	}
	snap.App = &Application{ServiceID: req.ServiceID, ID: aid, State: app[0], PlanID: app[1], PlanName: app[2], RedirectURL: app[3]}
	snap.AppKeys = r.strings()
	names := r.pairs()
	snap.Metrics = Metrics{NameByID: names, Parent: r.pairs(), IDByName: make(map[string]string, len(names))}
	for id, n := range names {
		snap.Metrics.IDByName[n] = id
	}
	snap.Limits = parseLimits(r.pairs())
	sortLimits(snap)
	// The script reads the usage of the limited periods only; the others
	// are empty lists, left out of the map (a lookup there reads 0).
	periods := r.list()
	snap.Usage = make(map[usage.Period]map[string]int64, len(snap.Limits))
	for i := 0; i < periods && r.err == nil; i++ {
		n := r.list()
		if n < 2 || i >= len(usage.Periods) {
			r.skip(n)
			continue
		}
		m := make(map[string]int64, n/2)
		for j := 0; j+1 < n; j += 2 {
			k, _ := r.str()
			v, _ := r.str()
			x, _ := strconv.ParseInt(v, 10, 64)
			m[k] = x
		}
		r.skip(n % 2)
		snap.Usage[usage.Periods[i]] = m
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return snap, nil
}

// authReply reads the MessagePack that cmsgpack writes for auth.lua's
// values from the front of s: arrays, strings, nil and false (what HMGET
// gives for a missing field) and integers. The first error sticks, and
// every read after it returns zero values.
type authReply struct {
	s   string
	err error
	at  int // bytes read, for the error
}

func (r *authReply) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("malformed at byte %d: %s", r.at, what)
	}
	r.s = ""
}

// take returns the next n bytes.
func (r *authReply) take(n int) string {
	if n < 0 || n > len(r.s) {
		r.fail(fmt.Sprintf("%d bytes wanted, %d left", n, len(r.s)))
		return ""
	}
	v := r.s[:n]
	r.s, r.at = r.s[n:], r.at+n
	return v
}

// uint reads a big-endian unsigned integer of n bytes.
func (r *authReply) uint(n int) uint64 {
	b := r.take(n)
	var v uint64
	for i := 0; i < len(b); i++ {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// head reads one type byte; ok is false at the end or after an error.
func (r *authReply) head() (byte, bool) {
	if r.err != nil {
		return 0, false
	}
	if r.s == "" {
		r.fail("reply ends early")
		return 0, false
	}
	return r.take(1)[0], true
}

// str reads one string; ok is false for nil or false (a missing value).
func (r *authReply) str() (v string, ok bool) {
	b, ok := r.head()
	if !ok {
		return "", false
	}
	switch {
	case b >= 0xa0 && b <= 0xbf: // fixstr
		return r.take(int(b & 0x1f)), r.err == nil
	case b == 0xd9 || b == 0xc4: // str8, bin8
		return r.take(int(r.uint(1))), r.err == nil
	case b == 0xda || b == 0xc5: // str16, bin16
		return r.take(int(r.uint(2))), r.err == nil
	case b == 0xdb || b == 0xc6: // str32, bin32
		return r.take(int(r.uint(4))), r.err == nil
	case b == 0xc0 || b == 0xc2: // nil, false
		return "", false
	}
	r.fail(fmt.Sprintf("type 0x%02x where a string was expected", b))
	return "", false
}

// list reads an array's header and returns its count.
func (r *authReply) list() int {
	b, ok := r.head()
	if !ok {
		return 0
	}
	var n int
	switch {
	case b >= 0x90 && b <= 0x9f: // fixarray
		n = int(b & 0x0f)
	case b == 0xdc:
		n = int(r.uint(2))
	case b == 0xdd:
		n = int(r.uint(4))
	default:
		r.fail(fmt.Sprintf("type 0x%02x where an array was expected", b))
		return 0
	}
	// every element takes at least one byte
	if n > len(r.s) {
		r.fail(fmt.Sprintf("array of %d past the end", n))
		return 0
	}
	return n
}

// integer reads a MessagePack integer.
func (r *authReply) integer() int64 {
	b, ok := r.head()
	if !ok {
		return 0
	}
	switch {
	case b <= 0x7f:
		return int64(b)
	case b >= 0xe0:
		return int64(int8(b))
	case b >= 0xcc && b <= 0xcf: // uint8..uint64
		return int64(r.uint(1 << (b - 0xcc)))
	case b >= 0xd0 && b <= 0xd3: // int8..int64
		n := 1 << (b - 0xd0)
		v := r.uint(n)
		shift := 64 - 8*n
		return int64(v<<shift) >> shift
	}
	r.fail(fmt.Sprintf("type 0x%02x where an integer was expected", b))
	return 0
}

// skip reads n strings and drops them.
func (r *authReply) skip(n int) {
	for ; n > 0 && r.err == nil; n-- {
		r.str()
	}
}

func (r *authReply) skipList() { r.skip(r.list()) }

// fixed reads an HMGET reply of n fields ("" for those missing); nil for
// the empty array the script gives for "not there".
func (r *authReply) fixed(n int) []string {
	c := r.list()
	if c == 0 {
		return nil
	}
	out := make([]string, n)
	for i := 0; i < c; i++ {
		v, _ := r.str()
		if i < n {
			out[i] = v
		}
	}
	return out
}

func (r *authReply) strings() []string {
	c := r.list()
	out := make([]string, 0, c)
	for i := 0; i < c; i++ {
		if v, ok := r.str(); ok {
			out = append(out, v)
		}
	}
	return out
}

// pairs reads a flat HGETALL reply into a map.
func (r *authReply) pairs() map[string]string {
	c := r.list()
	m := make(map[string]string, c/2)
	for i := 0; i+1 < c; i += 2 {
		k, _ := r.str()
		m[k], _ = r.str()
	}
	r.skip(c % 2)
	return m
}

// end checks that the reply held nothing after its nine parts.
func (r *authReply) end() error {
	if r.err == nil && r.s != "" {
		r.fail(fmt.Sprintf("%d bytes after the reply", len(r.s)))
	}
	return r.err
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
