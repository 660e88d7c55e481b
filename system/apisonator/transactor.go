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
	// ServiceID and AppID name the application (list_app_keys, OAuth).
	ServiceID, AppID string
	// AppKeys are listed with the list_app_keys extension (nil: not asked).
	AppKeys []string
	// Children is each metric's children, with the hierarchy extension
	// (nil: not asked).
	Children map[string][]string
	// Limits are the limit_headers extension's values (nil: not asked, or
	// denied for another reason than limits).
	Limits *LimitHeaders
	// OAuth answers (oauth_authorize, oauth_authrep) carry an <application>
	// section: the id, the first of the application's keys ("" for none),
	// and its redirect URL under RedirectField (redirect_url, or
	// redirect_uri when the request named it so).
	OAuth         bool
	FirstKey      string
	RedirectURL   string
	RedirectField string
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

// Mode is the call: authorize and oauth_authorize only predict the usage,
// authrep and oauth_authrep report it; the OAuth calls run Apisonator's
// OAUTH_VALIDATORS and answer with the application's section.
type Mode int

const (
	Authorize Mode = iota
	Authrep
	OAuthAuthorize
	OAuthAuthrep
)

// Reports says whether the call reports its usage (authrep, oauth_authrep).
func (m Mode) Reports() bool { return m == Authrep || m == OAuthAuthrep }

// OAuth says whether the call is one of the oauth_ endpoints.
func (m Mode) OAuth() bool { return m == OAuthAuthorize || m == OAuthAuthrep }

// resolveService applies Apisonator's credential rules: provider_key wins
// over service_token; a token needs a service id; with a provider key and no
// service id the provider's default service is used. The snapshot it returns
// also holds the application named by appID or userKey, read in the same
// round trip. afterCreds (nil for none) runs where Apisonator's listener
// makes its own checks: once a provider key is known (given, or found from
// a valid token), before the service is validated.
func (t *Transactor) resolveService(ctx context.Context, providerKey, token, serviceID, userKey, appID string, at time.Time, afterCreds func() *Error) (*catalog.Snapshot, string, error) {
	if providerKey == "" {
		switch {
		case token == "":
			return nil, "", ErrProviderKeyOrServiceTokenRequired()
		case serviceID == "":
			return nil, "", ErrServiceIDMissing()
		}
	} else if afterCreds != nil {
		if e := afterCreds(); e != nil {
			return nil, "", e
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
		if afterCreds != nil {
			if e := afterCreds(); e != nil {
				return nil, "", e
			}
		}
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

// oauthBackend is the backend_version of OAuth services (Apisonator
// compares it as the exact string).
const oauthBackend = "oauth"

// Authorize runs authorize, authrep, oauth_authorize or oauth_authrep. An
// *Error return is an Apisonator error answer; a rejection is a Status with
// Authorized false; any other error is the system's own failure (5xx).
func (t *Transactor) Authorize(ctx context.Context, p *AuthParams, mode Mode) (*Status, error) {
	now := t.now()
	// With both app_id and user_key Apisonator refuses before loading the
	// application; the credentials are still checked first.
	appID, userKey := p.AppID, p.UserKey
	if appID != "" && userKey != "" {
		userKey = ""
	}
	// The listener's own checks, once the provider key is known: no
	// user_id (end users are gone), and a usage that is a hash.
	listenerChecks := func() *Error {
		if p.UserID != "" {
			return ErrEndUsersNoLongerSupported()
		}
		if p.UsageNotHash {
			return &Error{Status: statusError} // halt 403, no body
		}
		return nil
	}
	snap, _, err := t.resolveService(ctx, p.ProviderKey, p.ServiceToken, p.ServiceID, userKey, appID, now, listenerChecks)
	if err != nil {
		return nil, err
	}
	// Transactor#validate: the OAuth calls need an app_id; both credentials
	// are refused; a backend_version 1 service names the application by
	// user key alone (an app_id is not read), any other by app_id alone (a
	// user key is not read).
	oauth := mode.OAuth()
	if oauth && p.AppID == "" {
		return nil, ErrApplicationNotFound("")
	}
	if p.AppID != "" && p.UserKey != "" {
		return nil, ErrAuthentication()
	}
	bv := snap.Service.BackendVersion
	userKeyMode := catalog.UserKeyMode(bv)
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
	if oauth {
		st.OAuth, st.RedirectURL, st.RedirectField = true, snap.App.RedirectURL, "redirect_url"
		if len(snap.AppKeys) > 0 {
			st.FirstKey = snap.AppKeys[0] // keys.first: SMEMBERS' order, as Apisonator's
		}
	}

	// Validators, in Apisonator's order, stopping at the first that fails:
	// VALIDATORS (Key), OAUTH_VALIDATORS (OauthSetting, OauthKey,
	// RedirectURI) on the oauth_ calls, OIDC_VALIDATORS (OauthKey) on the
	// others to an oauth service; then (Referrer: no filters here) State,
	// ServiceState, Limits.
	var processed map[string]delta   // metric id -> usage as checked and applied
	var inHierarchy map[string]delta // the same with the hierarchy always applied
	hasKey := func(k string) bool { return contains(snap.AppKeys, k) }
	key := func() (*Error, error) {
		if userKeyMode || len(snap.AppKeys) == 0 || (p.HasAppKey && hasKey(p.AppKey)) {
			return nil, nil
		}
		return rejectApplicationKeyInvalid(p.AppKey), nil
	}
	oauthKey := func() (*Error, error) {
		if !p.HasAppKey || (p.AppKey != "" && hasKey(p.AppKey)) {
			return nil, nil
		}
		return rejectApplicationKeyInvalid(p.AppKey), nil
	}
	oauthSetting := func() (*Error, error) {
		if bv == oauthBackend {
			return nil, nil
		}
		return rejectOauthNotEnabled(), nil
	}
	redirect := func() (*Error, error) {
		// redirect_url (the legacy name) wins over redirect_uri.
		var uri string
		invalid := rejectRedirectURIInvalid
		switch {
		case p.HasRedirectURL:
			uri, invalid = p.RedirectURL, rejectRedirectURLInvalid
		case p.HasRedirectURI:
			uri, st.RedirectField = p.RedirectURI, "redirect_uri"
		}
		if uri == "" || uri == snap.App.RedirectURL {
			return nil, nil
		}
		return invalid(uri), nil
	}
	state := func() (*Error, error) {
		if snap.App.State == "active" {
			return nil, nil
		}
		return rejectApplicationNotActive(), nil
	}
	serviceState := func() (*Error, error) {
		if serviceActive(snap.Service.State) {
			return nil, nil
		}
		return rejectServiceNotActive(), nil
	}
	limits := func() (*Error, error) {
		var err error
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
			return rejectLimitsExceeded(), nil
		}
		return nil, nil
	}
	// The validators by number, each closure called directly (not through
	// a slice of funcs), so that none of them is allocated per request.
	const (
		vKey = iota
		vOAuthKey
		vOAuthSetting
		vRedirect
		vState
		vServiceState
		vLimits
	)
	var vs [6]int8
	validators := vs[:0]
	switch {
	case oauth:
		validators = append(validators, vOAuthSetting, vOAuthKey, vRedirect)
	case bv == oauthBackend:
		validators = append(validators, vOAuthKey)
	default:
		validators = append(validators, vKey)
	}
	validators = append(validators, vState, vServiceState, vLimits)
	for _, v := range validators {
		var rej *Error
		var err error
		switch v {
		case vKey:
			rej, err = key()
		case vOAuthKey:
			rej, err = oauthKey()
		case vOAuthSetting:
			rej, err = oauthSetting()
		case vRedirect:
			rej, err = redirect()
		case vState:
			rej, err = state()
		case vServiceState:
			rej, err = serviceState()
		case vLimits:
			rej, err = limits()
		}
		if err != nil {
			return nil, err
		}
		if rej != nil {
			st.reject(rej)
			break
		}
	}

	// The answer: one usage report per limit of the plan. Its current
	// values add this call's usage, the hierarchy applied even under
	// flat_usage (as Apisonator's UsageReport adds the descendants' usage).
	var shown map[string]delta
	if mode.Reports() && st.Authorized {
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

	// The report job: the usage without its "0" entries (Apisonator's
	// filter_metrics_without_inc); none left, no job.
	if mode.Reports() && st.Authorized {
		reported := withoutZeros(p.Usage)
		if len(reported) == 0 {
			return st, nil
		}
		toApply, err := processUsage(snap.Metrics, reported, p.Ext.FlatUsage)
		if err != nil {
			return nil, err
		}
		rep := usage.Report{ID: newID(), ServiceID: sid, AppID: aid, Usage: make(map[string]int64, len(toApply)), Timestamp: now}
		for id, d := range toApply {
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

// withoutZeros drops the entries whose value is the string "0", as
// Apisonator's filter_metrics_without_inc does (" 0" or "00" stay).
func withoutZeros(entries []UsageEntry) []UsageEntry {
	out := make([]UsageEntry, 0, len(entries))
	for _, e := range entries {
		if e.Nested || e.Value != "0" {
			out = append(out, e)
		}
	}
	return out
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
		if e.Nested {
			return nil, ErrUsageValueInvalid(name, "")
		}
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
// credentials and the parameters' shape are checked before the 202; the
// transactions themselves are checked as Apisonator's ReportJob checks
// them, all or nothing: one naming an unknown application or metric, a bad
// usage value, or both app_id and user_key, and none of the batch is
// applied (Apisonator records it as an integration error). A transaction
// without usage, or whose usage is all "0", reports nothing. It returns
// how many transactions were accepted.
func (t *Transactor) Report(ctx context.Context, p *ReportParams) (int, error) {
	now := t.now()
	// The listener checks the parameters once it has a provider key,
	// before the service is validated.
	_, sid, err := t.resolveService(ctx, p.ProviderKey, p.ServiceToken, p.ServiceID, "", "", now, func() *Error { return p.Invalid })
	if err != nil {
		return 0, err
	}
	if p.Invalid != nil {
		return 0, p.Invalid
	}
	var reports []usage.Report
	for _, tr := range p.Transactions {
		rep, ok, err := t.reportOf(ctx, sid, tr, p.Ext.FlatUsage, now)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, nil // the job fails whole: nothing applied
		}
		if rep != nil {
			reports = append(reports, *rep)
		}
	}
	for _, rep := range reports {
		if err := t.Queue.Enqueue(ctx, rep); err != nil {
			return 0, fmt.Errorf("enqueueing report: %w", err)
		}
	}
	return len(p.Transactions), nil
}

// reportOf checks one transaction of a batch as ReportJob does
// (Application.extract_id!, then the usage): ok false when Apisonator's
// job would fail on it; a nil report when it has nothing to apply.
func (t *Transactor) reportOf(ctx context.Context, sid string, tr Transaction, flat bool, now time.Time) (*usage.Report, bool, error) {
	entries := withoutZeros(tr.Usage)
	if len(tr.Usage) > 0 && len(entries) == 0 {
		// filter_usages_with_0 drops it before the job: not even checked.
		return nil, true, nil
	}
	aid := strings.TrimSpace(tr.AppID)
	switch {
	case aid != "" && tr.UserKey != "":
		return nil, false, nil // authentication_error
	case aid == "" && tr.UserKey != "":
		s2, err := t.Catalog.LoadService(ctx, catalog.Credentials{ServiceID: sid, UserKey: tr.UserKey})
		if err != nil {
			return nil, false, err
		}
		aid = s2.UserKeyAppID
	}
	if aid == "" {
		return nil, false, nil // user_key_invalid, application_not_found
	}
	s3 := &catalog.Snapshot{}
	if err := t.Catalog.LoadApplication(ctx, s3, sid, aid); err != nil {
		return nil, false, err
	}
	if s3.App == nil {
		return nil, false, nil
	}
	if len(entries) == 0 {
		return nil, true, nil // no usage: nothing to apply
	}
	processed, err := processUsage(s3.Metrics, entries, flat)
	var ae *Error
	if errors.As(err, &ae) {
		return nil, false, nil // metric_invalid, usage_value_invalid
	} else if err != nil {
		return nil, false, err
	}
	ts := now
	if tr.Timestamp != "" {
		if x, err := parseTimestamp(tr.Timestamp); err == nil {
			ts = x
		}
	}
	rep := &usage.Report{ID: newID(), ServiceID: sid, AppID: aid, Usage: make(map[string]int64, len(processed)), Timestamp: ts}
	for id, d := range processed {
		rep.Usage[s3.Metrics.NameByID[id]] = d.value
	}
	return rep, true, nil
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
