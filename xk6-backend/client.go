package backend

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grafana/sobek"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"
)

// Client calls one system (one or more base URLs, used round-robin) with one
// service's credentials. Scripts make it in the init context:
//
//	const client = new backend.Client({ targets: ['http://127.0.0.1:3000'],
//	  serviceId: 'svc', serviceToken: 'token', timeout: '5s',
//	  internalUser: 'u', internalPassword: 'p' });
type Client struct {
	mi      *ModuleInstance
	targets []*target
	rr      atomic.Uint32
	creds   Credentials
	timeout time.Duration
	// internalAuth is the Authorization header line of internal API calls
	// ("" without internal API credentials).
	internalAuth string

	// Buffers reused across the calls of this VU (a VU runs one call at a time).
	query []byte
	body  []byte
	usage []usageEntry
	em    *emitter  // the VU's, reused while its tags stay the same
	ep    *epollSet // authrepMany's epoll set and connections, kept between batches
}

// Result is what authrep, authorize and report return. An error is a result
// too (outcome "error"), never an exception, so a VU goes on.
type Result struct {
	Call       string  `js:"call"`
	Status     int     `js:"status"`
	Outcome    string  `js:"outcome"`
	Authorized bool    `js:"authorized"`
	Reason     string  `js:"reason"`
	Code       string  `js:"code"`
	Error      string  `js:"error"`
	Duration   float64 `js:"duration"` // milliseconds
	Target     string  `js:"target"`
}

// resultKeys are a Result's properties in JS, in the order of its fields.
var resultKeys = []string{"call", "status", "outcome", "authorized", "reason", "code", "error", "duration", "target"}

// resultObject shows a Result to JS. Its properties are made when read: the
// reflection wrapper sobek makes of a Go struct (rt.ToValue) walked the
// struct's fields on every call, a twentieth of a one-authrep-per-iteration
// script's CPU, and most scripts read one or two fields, or none.
type resultObject struct {
	rt    *sobek.Runtime
	r     *Result
	extra map[string]sobek.Value // properties a script added
}

func (r *Result) jsValue(rt *sobek.Runtime) sobek.Value {
	return rt.NewDynamicObject(&resultObject{rt: rt, r: r})
}

func (o *resultObject) Get(key string) sobek.Value {
	r := o.r
	switch key {
	case "call":
		return o.rt.ToValue(r.Call)
	case "status":
		return o.rt.ToValue(r.Status)
	case "outcome":
		return o.rt.ToValue(r.Outcome)
	case "authorized":
		return o.rt.ToValue(r.Authorized)
	case "reason":
		return o.rt.ToValue(r.Reason)
	case "code":
		return o.rt.ToValue(r.Code)
	case "error":
		return o.rt.ToValue(r.Error)
	case "duration":
		return o.rt.ToValue(r.Duration)
	case "target":
		return o.rt.ToValue(r.Target)
	}
	return o.extra[key] // nil: no such property
}

func (o *resultObject) Set(key string, val sobek.Value) bool {
	if slices.Contains(resultKeys, key) {
		return false // read-only, as the fields of the Go struct were
	}
	if o.extra == nil {
		o.extra = map[string]sobek.Value{}
	}
	o.extra[key] = val
	return true
}

func (o *resultObject) Has(key string) bool {
	_, ok := o.extra[key]
	return ok || slices.Contains(resultKeys, key)
}

func (o *resultObject) Delete(key string) bool {
	delete(o.extra, key)
	return !slices.Contains(resultKeys, key)
}

func (o *resultObject) Keys() []string {
	keys := slices.Clone(resultKeys)
	for k := range o.extra {
		keys = append(keys, k)
	}
	slices.Sort(keys[len(resultKeys):])
	return keys
}

func (mi *ModuleInstance) newClient(call sobek.ConstructorCall) *sobek.Object {
	rt := mi.vu.Runtime()
	if mi.initErr != nil {
		mi.throw(mi.initErr)
	}
	c, err := mi.clientFromOptions(call.Argument(0))
	if err != nil {
		mi.throw(fmt.Errorf("new backend.Client: %w", err))
	}
	return c.jsObject(rt)
}

// jsObject binds the client's methods to a plain JS object once. Handing
// the Go value to the runtime instead would make sobek wrap a method anew on
// every property read and call it through reflection: per request that was
// a tenth of the CPU of a one-call-per-iteration script. The hot calls take
// the native calling convention; the rest are wrapped once here.
func (c *Client) jsObject(rt *sobek.Runtime) *sobek.Object {
	obj := rt.NewObject()
	methods := map[string]any{
		"authrep": func(call sobek.FunctionCall) sobek.Value {
			return c.transaction("authrep", call.Argument(0), call.Argument(1)).jsValue(rt)
		},
		"authorize": func(call sobek.FunctionCall) sobek.Value {
			return c.transaction("authorize", call.Argument(0), call.Argument(1)).jsValue(rt)
		},
		"report":        c.Report,
		"authrepMany":   c.AuthrepMany,
		"provision":     c.Provision,
		"createItem":    c.CreateItem,
		"reconcileItem": c.ReconcileItem,
		"waitItem":      c.WaitItem,
		"close":         c.Close,
	}
	for name, fn := range methods {
		if err := obj.Set(name, fn); err != nil {
			c.mi.throw(fmt.Errorf("new backend.Client: binding %s: %w", name, err))
		}
	}
	return obj
}

// options reads named fields of a JS object.
type options struct {
	rt  *sobek.Runtime
	obj *sobek.Object
}

func optionsOf(rt *sobek.Runtime, v sobek.Value) options {
	if v == nil || sobek.IsUndefined(v) || sobek.IsNull(v) {
		return options{rt: rt}
	}
	return options{rt: rt, obj: v.ToObject(rt)}
}

func (o options) get(name string) sobek.Value {
	if o.obj == nil {
		return nil
	}
	v := o.obj.Get(name)
	if v == nil || sobek.IsUndefined(v) || sobek.IsNull(v) {
		return nil
	}
	return v
}

func (o options) str(name string) string {
	if v := o.get(name); v != nil {
		return v.String()
	}
	return ""
}

func (o options) int(name string, def int64) (int64, error) {
	v := o.get(name)
	if v == nil {
		return def, nil
	}
	f := v.ToFloat()
	if math.IsNaN(f) || f != math.Trunc(f) {
		return 0, fmt.Errorf("%s: want an integer, got %s", name, v.String())
	}
	return int64(f), nil
}

func (mi *ModuleInstance) clientFromOptions(v sobek.Value) (*Client, error) {
	o := optionsOf(mi.vu.Runtime(), v)
	var raw []string
	if t := o.get("targets"); t != nil {
		if err := o.rt.ExportTo(t, &raw); err != nil {
			return nil, fmt.Errorf("targets: want an array of base URLs: %w", err)
		}
	} else if t := o.str("target"); t != "" {
		raw = []string{t}
	}
	if len(raw) == 0 {
		return nil, errors.New("targets: at least one base URL is needed (e.g. ['http://127.0.0.1:3000'])")
	}
	c := &Client{mi: mi}
	c.rr.Store(mi.root.rr.Add(1)) // VUs start on different targets
	for i, r := range raw {
		t, err := mi.root.sharedTarget(r)
		if err != nil {
			return nil, fmt.Errorf("targets[%d]: %w", i, err)
		}
		c.targets = append(c.targets, t)
	}
	c.creds = Credentials{ServiceID: o.str("serviceId"), ServiceToken: o.str("serviceToken"), ProviderKey: o.str("providerKey")}
	if c.creds.ServiceToken == "" && c.creds.ProviderKey == "" {
		return nil, errors.New("serviceToken or providerKey: one of them is needed")
	}
	if c.creds.ServiceToken != "" && c.creds.ServiceID == "" {
		return nil, errors.New("serviceId: needed with serviceToken")
	}
	var err error
	if c.timeout, err = durationOf(o.get("timeout"), "timeout", 10*time.Second); err != nil {
		return nil, err
	}
	// The internal API's basic auth (Apisonator's CONFIG_INTERNAL_API_USER
	// and _PASSWORD): with either given, provisioning and items send it.
	if user, pass := o.str("internalUser"), o.str("internalPassword"); user != "" || pass != "" {
		if strings.ContainsAny(user, ":\r\n") || strings.ContainsAny(pass, "\r\n") {
			return nil, errors.New("internalUser, internalPassword: no ':' in the user, no line breaks in either")
		}
		c.internalAuth = "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
	}
	return c, nil
}

func (c *Client) nextTarget() *target {
	if len(c.targets) == 1 {
		return c.targets[0]
	}
	return c.targets[int(c.rr.Add(1)%uint32(len(c.targets)))]
}

// appOf reads an application argument: a user key string, or an object
// {userKey} or {appId, appKey}.
func (c *Client) appOf(v sobek.Value) (AppCredentials, error) {
	if v == nil || sobek.IsUndefined(v) || sobek.IsNull(v) {
		return AppCredentials{}, errors.New("app: want a user key or {userKey} or {appId, appKey}")
	}
	if s, ok := v.Export().(string); ok {
		if s == "" {
			return AppCredentials{}, errors.New("app: empty user key")
		}
		return AppCredentials{UserKey: s}, nil
	}
	o := optionsOf(c.mi.vu.Runtime(), v)
	a := AppCredentials{UserKey: o.str("userKey"), AppID: o.str("appId"), AppKey: o.str("appKey")}
	if a.UserKey == "" && a.AppID == "" {
		return AppCredentials{}, errors.New("app: userKey or appId is needed")
	}
	return a, nil
}

// usageOf reads {metric: N, ...}, sorted by metric name so that the query
// is the same on every run. The entries are appended to dst[:0].
func (c *Client) usageOf(v sobek.Value, dst []usageEntry) ([]usageEntry, error) {
	if v == nil || sobek.IsUndefined(v) || sobek.IsNull(v) {
		return nil, nil
	}
	obj := v.ToObject(c.mi.vu.Runtime())
	u := dst[:0]
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		f := val.ToFloat()
		if math.IsNaN(f) || f != math.Trunc(f) || f < 0 {
			return nil, fmt.Errorf("usage[%s]: want a non-negative integer, got %s", k, val.String())
		}
		u = append(u, usageEntry{k, int64(f)})
	}
	if len(u) > 1 { // (sort.Slice would allocate on every call)
		slices.SortFunc(u, func(a, b usageEntry) int { return strings.Compare(a.metric, b.metric) })
	}
	return u, nil
}

// transaction is authrep (authorize and report usage in one call,
// GET /transactions/authrep.xml) and authorize (check limits without
// reporting, GET /transactions/authorize.xml).
func (c *Client) transaction(call string, appV, usageV sobek.Value) *Result {
	state := c.mi.vu.State()
	if state == nil {
		c.mi.throw(fmt.Errorf("%s: calls must be made in setup(), the default function or teardown(), not the init context", call))
	}
	app, err := c.appOf(appV)
	if err == nil {
		var usage []usageEntry
		if usage, err = c.usageOf(usageV, c.usage); err == nil {
			c.usage = usage
			em := c.vuEmitter(state)
			r := c.doTransaction(c.mi.vu.Context(), call, app, usage, &c.query, &c.body, em)
			em.flush(c.mi.vu.Context(), state)
			return r
		}
	}
	// Bad arguments are the script's bug: say so loudly, once per call.
	c.mi.throw(fmt.Errorf("%s: %w", call, err))
	return nil
}

// doTransaction runs one authrep/authorize and records its samples in em.
// It is safe to call from several goroutines when each brings its own
// buffers and emitter.
func (c *Client) doTransaction(ctx context.Context, call string, app AppCredentials, usage []usageEntry, qbuf, bbuf *[]byte, em *emitter) *Result {
	t := c.nextTarget()
	*qbuf = transactionQuery((*qbuf)[:0], call, c.creds, app, usage)
	start := time.Now()
	resp, err := t.do(ctx, "GET", *qbuf, "", "", nil, c.timeout, *bbuf)
	dur := time.Since(start)
	r := &Result{Call: call, Target: t.base, Duration: float64(dur) / float64(time.Millisecond)}
	if err != nil {
		r.Outcome, r.Error = OutcomeError, err.Error()
	} else {
		*bbuf = resp.body
		v := classify(resp.status, resp.body, true)
		r.Status, r.Outcome, r.Authorized, r.Reason, r.Code = resp.status, v.outcome, v.authorized, v.reason, v.code
	}
	var accepted []usageEntry
	if call == "authrep" && r.Outcome == OutcomeAuthorized {
		accepted = usage // authrep reports only what it authorized
	}
	em.add(call, r.Outcome, dur, accepted)
	return r
}

// emitter turns calls into samples: the call's duration, its outcome and,
// when the system took usage, the hits accepted per metric. It keeps the few
// tag sets a VU's calls use (looked up by a short scan, cheaper than hashing
// per request), and it pushes in bulk (flush) so that a batch does not wake
// the metrics engine once per request.
//
// A batch's emitter sums its counters (sumCounters): the durations stay one
// sample per request, and each flush adds one backend_results sample per
// outcome and one backend_hits_accepted sample per metric carrying the sum,
// which k6 (a Counter's value is the sum of its samples) and its outputs
// count the same as one sample per request, for a third of the samples.
type emitter struct {
	m           *extMetrics
	ctm         metrics.TagsAndMeta
	calls       []callTags
	hits        []metricTags
	buf         metrics.Samples
	sumCounters bool
	summed      bool // counts wait in calls and hits
}

type callTags struct {
	call     string
	tags     *metrics.TagSet
	outcomes [4]*metrics.TagSet // by outcomeIndex
	counts   [4]float64         // with sumCounters: results not yet pushed
}

type metricTags struct {
	metric string
	tags   *metrics.TagSet
	sum    float64 // with sumCounters: hits not yet pushed
}

func outcomeIndex(outcome string) int {
	switch outcome {
	case OutcomeAuthorized:
		return 0
	case OutcomeLimited:
		return 1
	case OutcomeRejected:
		return 2
	default:
		return 3
	}
}

func (c *Client) newEmitter() *emitter {
	em := &emitter{m: c.mi.metrics}
	if state := c.mi.vu.State(); state != nil {
		em.ctm = state.Tags.GetCurrentValues()
	}
	return em
}

// vuEmitter returns the emitter of the VU's own calls, kept from call to call
// as long as the VU's tags have not changed (a script may change them).
func (c *Client) vuEmitter(state *lib.State) *emitter {
	ctm := state.Tags.GetCurrentValues()
	if c.em == nil || c.em.ctm.Tags != ctm.Tags {
		c.em = c.newEmitter()
	}
	c.em.ctm.Metadata = ctm.Metadata
	return c.em
}

func (em *emitter) callTags(call, outcome string) (*callTags, int) {
	i := 0
	for ; i < len(em.calls) && em.calls[i].call != call; i++ {
	}
	if i == len(em.calls) {
		em.calls = append(em.calls, callTags{call: call, tags: em.ctm.Tags.With("call", call)})
	}
	ct := &em.calls[i]
	oi := outcomeIndex(outcome)
	if ct.outcomes[oi] == nil {
		ct.outcomes[oi] = ct.tags.With("outcome", outcome)
	}
	return ct, oi
}

func (em *emitter) metricTags(metric string) *metricTags {
	for i := range em.hits {
		if em.hits[i].metric == metric {
			return &em.hits[i]
		}
	}
	em.hits = append(em.hits, metricTags{metric: metric, tags: em.ctm.Tags.With("metric", metric)})
	return &em.hits[len(em.hits)-1]
}

func (em *emitter) add(call, outcome string, dur time.Duration, accepted []usageEntry) {
	if em.ctm.Tags == nil {
		return // no VU state: nowhere to send samples
	}
	now := time.Now()
	ct, oi := em.callTags(call, outcome)
	em.buf = append(em.buf, metrics.Sample{TimeSeries: metrics.TimeSeries{Metric: em.m.callDuration, Tags: ct.tags},
		Time: now, Value: metrics.D(dur), Metadata: em.ctm.Metadata})
	if em.sumCounters {
		ct.counts[oi]++
		for _, u := range accepted {
			em.metricTags(u.metric).sum += float64(u.value)
		}
		em.summed = true
		return
	}
	em.buf = append(em.buf, metrics.Sample{TimeSeries: metrics.TimeSeries{Metric: em.m.results, Tags: ct.outcomes[oi]},
		Time: now, Value: 1, Metadata: em.ctm.Metadata})
	for _, u := range accepted {
		em.buf = append(em.buf, metrics.Sample{
			TimeSeries: metrics.TimeSeries{Metric: em.m.hitsAccepted, Tags: em.metricTags(u.metric).tags},
			Time:       now, Value: float64(u.value), Metadata: em.ctm.Metadata,
		})
	}
}

// addSums appends the summed counters to the buffer and zeroes them.
func (em *emitter) addSums() {
	now := time.Now()
	for i := range em.calls {
		ct := &em.calls[i]
		for oi, n := range ct.counts {
			if n != 0 {
				em.buf = append(em.buf, metrics.Sample{TimeSeries: metrics.TimeSeries{Metric: em.m.results, Tags: ct.outcomes[oi]},
					Time: now, Value: n, Metadata: em.ctm.Metadata})
				ct.counts[oi] = 0
			}
		}
	}
	for i := range em.hits {
		if h := &em.hits[i]; h.sum != 0 {
			em.buf = append(em.buf, metrics.Sample{TimeSeries: metrics.TimeSeries{Metric: em.m.hitsAccepted, Tags: h.tags},
				Time: now, Value: h.sum, Metadata: em.ctm.Metadata})
			h.sum = 0
		}
	}
	em.summed = false
}

// flush pushes what was added. The samples are handed over, so the buffer
// starts anew.
func (em *emitter) flush(ctx context.Context, state *lib.State) {
	if em.summed {
		em.addSums()
	}
	if len(em.buf) == 0 || state == nil {
		return
	}
	metrics.PushIfNotDone(ctx, state.Samples, em.buf)
	em.buf = nil
}

// Report sends usage for many applications in one batch
// (POST /transactions.xml). transactions is an array of
// {userKey | appId, usage: {metric: N}, timestamp?}. A 202 means the system
// took every transaction: their usage counts as accepted.
func (c *Client) Report(transactions sobek.Value) *Result {
	state := c.mi.vu.State()
	if state == nil {
		c.mi.throw(errors.New("report: calls must be made in setup(), the default function or teardown()"))
	}
	rt := c.mi.vu.Runtime()
	if transactions == nil || sobek.IsUndefined(transactions) || sobek.IsNull(transactions) {
		c.mi.throw(errors.New("report: transactions: want an array of {userKey|appId, usage}"))
	}
	arr := transactions.ToObject(rt)
	n := int(arr.Get("length").ToInteger())
	if n == 0 {
		c.mi.throw(errors.New("report: transactions: at least one transaction is needed"))
	}
	body := c.creds.appendQuery(nil)
	totals := map[string]int64{}
	for i := range n {
		tv := arr.Get(strconv.Itoa(i))
		app, err := c.appOf(tv)
		if err != nil {
			c.mi.throw(fmt.Errorf("report: transactions[%d]: %w", i, err))
		}
		o := optionsOf(rt, tv)
		usage, err := c.usageOf(o.get("usage"), nil)
		if err != nil {
			c.mi.throw(fmt.Errorf("report: transactions[%d]: %w", i, err))
		}
		p := "transactions[" + strconv.Itoa(i) + "]"
		if app.UserKey != "" {
			body = appendParam(body, p+"[user_key]", app.UserKey)
		} else {
			body = appendParam(body, p+"[app_id]", app.AppID)
		}
		for _, u := range usage {
			body = appendParam(body, p+"[usage]["+u.metric+"]", strconv.FormatInt(u.value, 10))
			totals[u.metric] += u.value
		}
		if ts := o.str("timestamp"); ts != "" {
			body = appendParam(body, p+"[timestamp]", ts)
		}
	}
	ctx := c.mi.vu.Context()
	t := c.nextTarget()
	start := time.Now()
	resp, err := t.do(ctx, "POST", []byte("/transactions.xml"), "", "application/x-www-form-urlencoded", body, c.timeout, c.body)
	dur := time.Since(start)
	r := &Result{Call: "report", Target: t.base, Duration: float64(dur) / float64(time.Millisecond)}
	var accepted []usageEntry
	if err != nil {
		r.Outcome, r.Error = OutcomeError, err.Error()
	} else {
		c.body = resp.body
		v := classify(resp.status, resp.body, false)
		r.Status, r.Outcome, r.Authorized, r.Reason, r.Code = resp.status, v.outcome, v.authorized, v.reason, v.code
		if r.Outcome == OutcomeAuthorized {
			accepted = sortedUsage(totals)
		}
	}
	em := c.newEmitter()
	em.add("report", r.Outcome, dur, accepted)
	em.flush(ctx, state)
	return r
}

// Close drops this process's idle connections to the client's targets.
func (c *Client) Close() {
	c.closeEpoll()
	for _, t := range c.targets {
		t.closeIdle()
	}
}
