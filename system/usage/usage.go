// Package usage keeps the usage counters of applications per period, the
// numbers that rate limits are checked against and that the "no report lost"
// property reads back as the ground truth.
//
// Layout in Redis (one hash per application and period, a field per metric):
//
//	usage/{service:SID}/app:AID/minute:202611231448
//	usage/{service:SID}/app:AID/hour:2026112314
//	usage/{service:SID}/app:AID/day:20261123
//	usage/{service:SID}/app:AID/week:20261123        (the Monday that starts it)
//	usage/{service:SID}/app:AID/month:20261101
//	usage/{service:SID}/app:AID/year:20260101
//	usage/{service:SID}/app:AID/eternity
//
// Period stamps follow Apisonator's (UTC). Every key but eternity expires
// once its period can no longer be asked for.
package usage

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Period is a limit/usage period, named as Apisonator names them.
type Period string

const (
	Minute   Period = "minute"
	Hour     Period = "hour"
	Day      Period = "day"
	Week     Period = "week"
	Month    Period = "month"
	Year     Period = "year"
	Eternity Period = "eternity"
)

// Periods lists every period from the shortest to eternity.
var Periods = []Period{Minute, Hour, Day, Week, Month, Year, Eternity}

// ParsePeriod validates a period name.
func ParsePeriod(s string) (Period, error) {
	for _, p := range Periods {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown period %q (want one of minute, hour, day, week, month, year, eternity)", s)
}

// Start is the first instant of the period that holds t (UTC); zero for eternity.
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	switch p {
	case Minute:
		return t.Truncate(time.Minute)
	case Hour:
		return t.Truncate(time.Hour)
	case Day:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case Week:
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		off := (int(d.Weekday()) + 6) % 7 // Monday = 0
		return d.AddDate(0, 0, -off)
	case Month:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case Year:
		return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// End is the first instant after the period that holds t; zero for eternity.
func (p Period) End(t time.Time) time.Time {
	s := p.Start(t)
	switch p {
	case Minute:
		return s.Add(time.Minute)
	case Hour:
		return s.Add(time.Hour)
	case Day:
		return s.AddDate(0, 0, 1)
	case Week:
		return s.AddDate(0, 0, 7)
	case Month:
		return s.AddDate(0, 1, 0)
	case Year:
		return s.AddDate(1, 0, 0)
	}
	return time.Time{}
}

// Stamp is the period's key suffix for t, e.g. "day:20261123" or "eternity".
func (p Period) Stamp(t time.Time) string {
	s := p.Start(t)
	switch p {
	case Minute:
		return "minute:" + s.Format("200601021504")
	case Hour:
		return "hour:" + s.Format("2006010215")
	case Eternity:
		return "eternity"
	}
	return string(p) + ":" + s.Format("20060102")
}

// stampCache holds every period's stamp for one minute (UTC), the
// shortest period: within it the stamps do not change.
type stampCache struct {
	minute int64
	stamps []string
}

var stampsCache atomic.Pointer[stampCache]

// Stamps is every period's stamp for t, in Periods order. The slice is
// shared: callers must not modify it.
func Stamps(t time.Time) []string {
	m := t.Unix()
	if r := m % 60; r < 0 {
		m -= 60 + r
	} else {
		m -= r
	}
	if c := stampsCache.Load(); c != nil && c.minute == m {
		return c.stamps
	}
	c := &stampCache{minute: m, stamps: make([]string, len(Periods))}
	for i, p := range Periods {
		c.stamps[i] = p.Stamp(t)
	}
	stampsCache.Store(c)
	return c.stamps
}

// Key is the Redis hash that holds an application's usage for the period
// containing t.
func Key(serviceID, appID string, p Period, t time.Time) string {
	return "usage/{service:" + serviceID + "}/app:" + appID + "/" + p.Stamp(t)
}

// Report is one unit of reported usage: what a report job carries from the
// listener to the worker. ID is unique per report and makes applying
// idempotent where the queue format asks for it.
type Report struct {
	ID        string           `json:"id"`
	ServiceID string           `json:"service_id"`
	AppID     string           `json:"app_id"`
	Usage     map[string]int64 `json:"usage"`
	Timestamp time.Time        `json:"timestamp"`
}

// Store reads and writes usage counters.
type Store struct {
	rdb redis.UniversalClient
	// DedupeTTL is how long an applied report id is remembered.
	DedupeTTL time.Duration
}

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, DedupeTTL: 7 * 24 * time.Hour}
}

// DoneKey is the marker that says report id was applied.
func DoneKey(id string) string { return "usage/applied/" + id }

// applyScript adds ARGV[3..] (metric, value pairs) to every key in KEYS[2..];
// KEYS[1] is the dedupe marker, honoured when ARGV[1] == "1". Periodic keys
// get the TTL in the matching ARGV position. One script, so a report is
// applied to every period or to none, and the marker is set with it.
var applyScript = redis.NewScript(applyLua)

//go:embed apply.lua
var applyLua string

// Apply adds the report's usage to every period's counters. With dedupe it
// applies a given report id at most once and reports whether this call
// applied it; without, it always applies (the v1, at-most-once path).
func (s *Store) Apply(ctx context.Context, r Report, dedupe bool) (bool, error) {
	if len(r.Usage) == 0 {
		return false, nil
	}
	if dedupe && r.ID == "" {
		return false, fmt.Errorf("applying report: dedupe asked for but report has no id")
	}
	ts := r.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	keys := make([]string, 0, len(Periods)+1)
	keys = append(keys, DoneKey(r.ID))
	args := make([]any, 0, 2+len(Periods)+2*len(r.Usage))
	d := "0"
	if dedupe {
		d = "1"
	}
	args = append(args, d, int64(s.DedupeTTL/time.Second))
	base, stamps := "usage/{service:"+r.ServiceID+"}/app:"+r.AppID+"/", Stamps(ts)
	for i, p := range Periods {
		keys = append(keys, base+stamps[i])
		ttl := int64(0)
		if p != Eternity {
			// keep a period a while past its end so a late read still sees it
			ttl = int64(time.Until(p.End(ts))/time.Second) + int64(p.End(ts).Sub(p.Start(ts))/time.Second)
			if ttl < 60 {
				ttl = 60
			}
		}
		args = append(args, ttl)
	}
	for m, v := range r.Usage {
		args = append(args, m, v)
	}
	n, err := applyScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return false, fmt.Errorf("applying report %s: %w", r.ID, err)
	}
	return n == 1, nil
}

// Read returns the application's usage per metric in the period holding t.
func (s *Store) Read(ctx context.Context, serviceID, appID string, p Period, t time.Time) (map[string]int64, error) {
	m, err := s.rdb.HGetAll(ctx, Key(serviceID, appID, p, t)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading usage of app %s: %w", appID, err)
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("usage of app %s metric %s is not a number: %q", appID, k, v)
		}
		out[k] = n
	}
	return out, nil
}

// Totals is the application's usage since ever, per metric: the ground truth
// that "no report lost" compares with what clients were told was accepted.
func (s *Store) Totals(ctx context.Context, serviceID, appID string) (map[string]int64, error) {
	return s.Read(ctx, serviceID, appID, Eternity, time.Time{})
}

// ReadMany returns, for each period asked, the usage per metric in the period
// holding t, in one round trip.
func (s *Store) ReadMany(ctx context.Context, serviceID, appID string, ps []Period, t time.Time) (map[Period]map[string]int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ps))
	for i, p := range ps {
		cmds[i] = pipe.HGetAll(ctx, Key(serviceID, appID, p, t))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("reading usage of app %s: %w", appID, err)
	}
	out := make(map[Period]map[string]int64, len(ps))
	for i, p := range ps {
		mm := make(map[string]int64)
		for k, v := range cmds[i].Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			mm[k] = n
		}
		out[p] = mm
	}
	return out, nil
}
