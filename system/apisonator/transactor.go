package apisonator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/perfrun/perfrun/system/catalog"
	"github.com/perfrun/perfrun/system/usage"
)

// Enqueuer takes accepted usage off the request path: authrep and report
// answer as soon as the report job is queued, as Apisonator does.
type Enqueuer interface {
	Enqueue(ctx context.Context, r usage.Report) error
}

// Transactor decides authorize, authrep and report.
type Transactor struct {
	Catalog *catalog.Store
	Usage   *usage.Store
	Queue   Enqueuer
	Now     func() time.Time
}

// Status is the outcome of an authorization, rendered by XML.
type Status struct {
	Authorized bool
	Reason     *Error // rejection, when not authorized
	PlanName   string
	Reports    []UsageReport
	// ServiceID and AppID name the application (list_app_keys).
	ServiceID, AppID string
	// AppKeys are listed with the list_app_keys extension (nil: not asked).
	AppKeys []string
	// Children is each metric's children, with the hierarchy extension
	// (nil: not asked).
	Children map[string][]string
	// Limits are the limit_headers extension's values (nil: not asked, or
	// denied for another reason than limits).
	Limits *LimitHeaders
}

// UsageReport is one <usage_report> of a status.
type UsageReport struct {
	Metric   string
	Period   usage.Period
	Start    time.Time
	End      time.Time
	Max      int64
	Current  int64 // what the answer shows (this request's usage added when authorized)
	Exceeded bool  // stored value above the limit
}

// HTTPStatus is 200 when authorized and 409 otherwise.
func (s *Status) HTTPStatus() int {
	if s.Authorized {
		return 200
	}
	return 409
}

// Mode says whether the usage is reported (authrep) or only predicted
// (authorize).
type Mode int

const (
	Authorize Mode = iota
	Authrep
)

// resolveService applies Apisonator's credential rules: provider_key wins
// over service_token; a token needs a service id; with a provider key and no
// service id the provider's default service is used. The snapshot it returns
// also holds the application named by appID or userKey, read in the same
// round trip.
func (t *Transactor) resolveService(ctx context.Context, providerKey, token, serviceID, userKey, appID string, at time.Time) (*catalog.Snapshot, string, error) {
	if providerKey == "" {
		switch {
		case token == "":
			return nil, "", ErrProviderKeyOrServiceTokenRequired()
		case serviceID == "":
			return nil, "", ErrServiceIDMissing()
		}
	}
	if serviceID == "" {
		id, err := t.Catalog.DefaultServiceID(ctx, providerKey)
		if err != nil {
			return nil, "", err
		}
		if id == "" {
			return nil, "", ErrProviderKeyInvalidOrServiceMissing(providerKey)
		}
		serviceID = id
	}
	snap, err := t.Catalog.LoadAuth(ctx, catalog.AuthRequest{ServiceID: serviceID, ServiceToken: tokenIfNoKey(providerKey, token), UserKey: userKey, AppID: appID, At: at})
	if err != nil {
		return nil, "", err
	}
	if providerKey == "" {
		if !snap.TokenValid || snap.Service == nil {
			return nil, "", ErrServiceTokenInvalid(token, serviceID)
		}
		providerKey = snap.Service.ProviderKey
	}
	if snap.Service == nil {
		return nil, "", ErrServiceIDInvalid(serviceID)
	}
	if snap.Service.ProviderKey != providerKey {
		def, err := t.Catalog.DefaultServiceID(ctx, providerKey)
		if err != nil {
			return nil, "", err
		}
		if def == "" {
			return nil, "", ErrProviderKeyInvalid(providerKey)
		}
		return nil, "", ErrServiceIDInvalid(serviceID)
	}
	return snap, serviceID, nil
}

func tokenIfNoKey(pk, token string) string {
	if pk != "" {
		return ""
	}
	return token
}

// Authorize runs authorize (Mode Authorize) or authrep (Mode Authrep). An
// *Error return is an Apisonator error answer; a rejection is a Status with
// Authorized false; any other error is the system's own failure (5xx).
func (t *Transactor) Authorize(ctx context.Context, p *AuthParams, mode Mode) (*Status, error) {
	if p.UserID != "" {
		return nil, ErrEndUsersNoLongerSupported()
	}
	now := t.now()
	// With both app_id and user_key Apisonator refuses before loading the
	// application; the credentials are still checked first.
	appID, userKey := p.AppID, p.UserKey
	if appID != "" && userKey != "" {
		userKey = ""
	}
	snap, _, err := t.resolveService(ctx, p.ProviderKey, p.ServiceToken, p.ServiceID, userKey, appID, now)
	if err != nil {
		return nil, err
	}
	// Transactor#validate: both credentials are refused; a backend_version
	// 1 service names the application by user key alone (an app_id is not
	// read), any other by app_id alone (a user key is not read).
	if p.AppID != "" && p.UserKey != "" {
		return nil, ErrAuthentication()
	}
	userKeyMode := catalog.UserKeyMode(snap.Service.BackendVersion)
	var aid string
	if userKeyMode {
		aid = snap.UserKeyAppID
		if aid == "" {
			return nil, ErrUserKeyInvalid(p.UserKey) // "user key is missing" without one
		}
	} else {
		aid = p.AppID // "application id is missing" without one, below
	}
	if snap.App == nil {
		return nil, ErrApplicationNotFound(aid)
	}
	sid, values := snap.Service.ID, snap.Usage
	st := &Status{Authorized: true, PlanName: snap.App.PlanName, ServiceID: sid, AppID: aid}

	// Validators, in Apisonator's order, stopping at the first that fails:
	// Key, (Referrer: no filters here), State, ServiceState, Limits.
	var processed map[string]delta   // metric id -> usage as checked and applied
	var inHierarchy map[string]delta // the same with the hierarchy always applied
	switch {
	case !userKeyMode && len(snap.AppKeys) > 0 && !(p.HasAppKey && contains(snap.AppKeys, p.AppKey)):
		st.reject(rejectApplicationKeyInvalid(p.AppKey))
	case snap.App.State != "active":
		st.reject(rejectApplicationNotActive())
	case !serviceActive(snap.Service.State):
		st.reject(rejectServiceNotActive())
	default:
		inHierarchy, err = processUsage(snap.Metrics, p.Usage, false)
		if err != nil {
			return nil, err
		}
		// flat_usage: the usage is checked and applied as given.
		processed = inHierarchy
		if p.Ext.FlatUsage {
			processed, _ = processUsage(snap.Metrics, p.Usage, true)
		}
		if !limitsHold(snap, values, processed, p.HasUsage) {
			st.reject(rejectLimitsExceeded())
		}
	}

	// The answer: one usage report per limit of the plan. Its current
	// values add this call's usage, the hierarchy applied even under
	// flat_usage (as Apisonator's UsageReport adds the descendants' usage).
	var shown map[string]delta
	if mode == Authrep && st.Authorized {
		shown = inHierarchy
	}
	for _, l := range snap.Limits {
		name := snap.Metrics.NameByID[l.MetricID]
		if name == "" {
			continue // a limit on a deleted metric is not reported
		}
		cur := values[l.Period][name]
		r := UsageReport{Metric: name, Period: l.Period, Max: l.Value, Current: cur, Exceeded: cur > l.Value}
		if l.Period != usage.Eternity {
			r.Start, r.End = l.Period.Start(now), l.Period.End(now)
		}
		if d, ok := shown[l.MetricID]; ok {
			r.Current = d.apply(cur)
		}
		st.Reports = append(st.Reports, r)
	}
	if p.Ext.ListAppKeys {
		st.AppKeys = append([]string{}, snap.AppKeys...)
		slices.Sort(st.AppKeys)
		if len(st.AppKeys) > maxListedAppKeys {
			st.AppKeys = st.AppKeys[:maxListedAppKeys]
		}
	}
	if p.Ext.Hierarchy {
		st.Children = children(snap.Metrics)
	}
	// limit_headers: on an authorization that passed or was denied for its
	// limits, over the limits of the metrics in the usage and their parents
	// (all of them without a usage).
	if p.Ext.LimitHeaders && (st.Authorized || st.Reason.Code == "limits_exceeded") {
		reports := st.Reports
		if len(inHierarchy) > 0 {
			reports = nil
			for _, r := range st.Reports {
				if _, ok := inHierarchy[snap.Metrics.IDByName[r.Metric]]; ok {
					reports = append(reports, r)
				}
			}
		}
		h := limitHeaders(reports, func(metric string) int64 { return inHierarchy[snap.Metrics.IDByName[metric]].value }, now)
		st.Limits = &h
	}

	if mode == Authrep && st.Authorized && len(processed) > 0 {
		rep := usage.Report{ID: newID(), ServiceID: sid, AppID: aid, Usage: make(map[string]int64, len(processed)), Timestamp: now}
		for id, d := range processed {
			// A set (#N) is applied as an increment: the reference system
			// does not implement Apisonator's set semantics (documented).
			rep.Usage[snap.Metrics.NameByID[id]] = d.value
		}
		if err := t.Queue.Enqueue(ctx, rep); err != nil {
			return nil, fmt.Errorf("enqueueing report: %w", err)
		}
	}
	return st, nil
}

// serviceActive is Service#active?: a service saved with no state, or with
// state active, is active; any other state is suspended.
func serviceActive(state string) bool { return state == "" || state == "active" }

func (st *Status) reject(e *Error) {
	if st.Authorized {
		st.Authorized = false
		st.Reason = e
	}
}

type delta struct {
	value int64
	set   bool
}

func (d delta) apply(cur int64) int64 {
	if d.set {
		return d.value
	}
	return cur + d.value
}

// maxListedAppKeys is Apisonator's LIST_APP_KEYS_MAX.
const maxListedAppKeys = 256

// processUsage is Metric::Collection#process_usage: validate each value then
// resolve the metric, in the order given, and propagate to the parents
// unless flat (the flat_usage extension).
func processUsage(m catalog.Metrics, entries []UsageEntry, flat bool) (map[string]delta, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	out := make(map[string]delta, len(entries)*2)
	for _, e := range entries {
		name := strings.TrimSpace(e.Metric)
		v, set, ok := ParseUsageValue(e.Value)
		if !ok {
			return nil, ErrUsageValueInvalid(name, e.Value)
		}
		id, ok := m.IDByName[name]
		if !ok {
			return nil, ErrMetricInvalid(name)
		}
		out[id] = delta{value: v, set: set}
	}
	if flat {
		return out, nil
	}
	base := make(map[string]delta, len(out))
	for id, d := range out {
		base[id] = d
	}
	for id, d := range base {
		for _, p := range m.Ancestors(id) {
			if d.set {
				out[p] = d
			} else {
				cur := out[p]
				out[p] = delta{value: cur.value + d.value, set: cur.set}
			}
		}
	}
	return out, nil
}

// limitsHold is Validators::Limits: with a usage, only the limits of the
// metrics in it (and their parents) are checked, against stored value plus
// usage; without one, every limit is checked against what is stored.
//
// The stored values are what workers have applied. Reports still in the
// queue are not counted, so concurrent requests can be admitted past a limit
// by at most what is queued and not yet applied: the same bound Apisonator's
// asynchronous design has. Increments themselves are never lost (HINCRBY).
func limitsHold(snap *catalog.Snapshot, values map[usage.Period]map[string]int64, processed map[string]delta, hasUsage bool) bool {
	for _, l := range snap.Limits {
		name := snap.Metrics.NameByID[l.MetricID]
		if name == "" {
			continue
		}
		cur := values[l.Period][name]
		if hasUsage && len(processed) > 0 {
			d, ok := processed[l.MetricID]
			if !ok {
				continue
			}
			cur = d.apply(cur)
		}
		if cur > l.Value {
			return false
		}
	}
	return true
}

// Report enqueues a batch of transactions (POST /transactions.xml). Only the
// credentials are checked on the request path; transactions naming unknown
// applications or metrics are dropped, as Apisonator's report job does
// (which records them as integration errors). It returns how many
// transactions were accepted.
func (t *Transactor) Report(ctx context.Context, p *ReportParams) (int, error) {
	now := t.now()
	_, sid, err := t.resolveService(ctx, p.ProviderKey, p.ServiceToken, p.ServiceID, "", "", now)
	if err != nil {
		return 0, err
	}
	if len(p.Transactions) == 0 {
		return 0, ErrTransactionsIsBlank()
	}
	accepted := 0
	for _, tr := range p.Transactions {
		aid := strings.TrimSpace(tr.AppID)
		if aid == "" && tr.UserKey != "" {
			s2, err := t.Catalog.LoadService(ctx, catalog.Credentials{ServiceID: sid, UserKey: tr.UserKey})
			if err != nil {
				return accepted, err
			}
			aid = s2.UserKeyAppID
		}
		if aid == "" {
			continue
		}
		s3 := &catalog.Snapshot{}
		if err := t.Catalog.LoadApplication(ctx, s3, sid, aid); err != nil {
			return accepted, err
		}
		if s3.App == nil {
			continue
		}
		processed, err := processUsage(s3.Metrics, tr.Usage, p.Ext.FlatUsage)
		var ae *Error
		if errors.As(err, &ae) {
			continue
		} else if err != nil {
			return accepted, err
		}
		if len(processed) == 0 {
			accepted++
			continue
		}
		ts := now
		if tr.Timestamp != "" {
			if x, err := parseTimestamp(tr.Timestamp); err == nil {
				ts = x
			}
		}
		rep := usage.Report{ID: newID(), ServiceID: sid, AppID: aid, Usage: make(map[string]int64, len(processed)), Timestamp: ts}
		for id, d := range processed {
			rep.Usage[s3.Metrics.NameByID[id]] = d.value
		}
		if err := t.Queue.Enqueue(ctx, rep); err != nil {
			return accepted, fmt.Errorf("enqueueing report: %w", err)
		}
		accepted++
	}
	return accepted, nil
}

func parseTimestamp(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q not understood", s)
}

func (t *Transactor) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now().UTC()
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// newID is a random 128-bit hex id: the report's idempotency key.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
