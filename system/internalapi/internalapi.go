// Package internalapi is the provisioning API under /internal/, mirroring
// Apisonator's internal API paths and JSON (app/api/internal/*.rb) for the
// parts a load test needs: services, service tokens, metrics, applications,
// user keys, application keys, usage limits, utilization, plus perfrun's
// ground-truth read of an application's usage totals.
package internalapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/perfrun/perfrun/system/catalog"
	"github.com/perfrun/perfrun/system/usage"
)

// API serves /internal/. Answers are Apisonator's: every GET that finds
// something is {"status":"found","<object>":{...}}, writes say created or
// modified beside the object, and a miss is a 404 with status not_found.
type API struct {
	Catalog *catalog.Store
	Usage   *usage.Store
	// Items, when set, serves /internal/items/ (the controller's work items).
	Items http.Handler
	Now   func() time.Time
	// Version is the backend version /internal/status reports.
	Version string
}

// Handler returns the routes.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /internal/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"status": "ok", "version": map[string]string{"backend": a.Version}})
	})
	mux.HandleFunc("GET /internal/check.json", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("POST /internal/services/{$}", a.createService)
	mux.HandleFunc("PUT /internal/services/{id}", a.putService)
	mux.HandleFunc("GET /internal/services/{id}", a.getService)
	mux.HandleFunc("POST /internal/service_tokens/{$}", a.createTokens)
	mux.HandleFunc("POST /internal/services/{sid}/metrics/{id}", a.saveMetric(201, "created"))
	mux.HandleFunc("PUT /internal/services/{sid}/metrics/{id}", a.saveMetric(200, "modified"))
	mux.HandleFunc("GET /internal/services/{sid}/metrics/{id}", a.getMetric)
	mux.HandleFunc("POST /internal/services/{sid}/applications/{id}", a.createApp)
	mux.HandleFunc("PUT /internal/services/{sid}/applications/{id}", a.putApp)
	mux.HandleFunc("GET /internal/services/{sid}/applications/{id}", a.getApp)
	mux.HandleFunc("PUT /internal/services/{sid}/applications/{id}/key/{key}", a.putUserKey)
	mux.HandleFunc("POST /internal/services/{sid}/applications/{id}/keys/{$}", a.createAppKeys)
	mux.HandleFunc("GET /internal/services/{sid}/applications/{id}/keys/{$}", a.listAppKeys)
	mux.HandleFunc("PUT /internal/services/{sid}/plans/{pid}/usagelimits/{mid}/{period}", a.putLimit)
	mux.HandleFunc("GET /internal/services/{sid}/plans/{pid}/usagelimits/{mid}/{period}", a.getLimit)
	mux.HandleFunc("DELETE /internal/services/{sid}/plans/{pid}/usagelimits/{mid}/{period}", a.deleteLimit)
	mux.HandleFunc("GET /internal/services/{sid}/applications/{id}/utilization/{$}", a.utilization)
	mux.HandleFunc("GET /internal/services/{sid}/applications/{id}/usage/{$}", a.usageTotals)
	if a.Items != nil {
		mux.Handle("/internal/items/", a.Items)
	}
	mux.HandleFunc("/internal/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 404, map[string]any{"status": "not_found", "error": "Not found"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"status": "error", "error": msg})
}

func internalError(w http.ResponseWriter, err error) {
	fail(w, 500, err.Error())
}

// MaxBody bounds a request body of the internal API (a front may bound it
// tighter). A body over it is refused whole (413), never cut and decoded.
const MaxBody = 1 << 20

// decode reads {"<field>": {...}} into v; false (answered) when it is absent.
func decode(w http.ResponseWriter, r *http.Request, field string, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		fail(w, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	if err != nil {
		fail(w, 400, "reading body: "+err.Error())
		return false
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		fail(w, 400, "body is not a JSON object: "+err.Error())
		return false
	}
	raw, ok := env[field]
	if !ok || string(raw) == "null" {
		fail(w, 400, "missing parameter '"+field+"'")
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		fail(w, 400, "invalid parameter '"+field+"': "+err.Error())
		return false
	}
	return true
}

// flexString takes a JSON string or number (ids are numbers in Porta).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("want a string or a number")
	}
	*f = flexString(n.String())
	return nil
}

type serviceJSON struct {
	ID             flexString `json:"id"`
	ProviderKey    flexString `json:"provider_key"`
	State          flexString `json:"state"`
	BackendVersion flexString `json:"backend_version"`
	DefaultService bool       `json:"default_service"`
}

func (a *API) saveServiceFrom(w http.ResponseWriter, r *http.Request, id string) (*catalog.Service, bool) {
	var in serviceJSON
	if !decode(w, r, "service", &in) {
		return nil, false
	}
	if id == "" {
		id = string(in.ID)
	}
	svc := catalog.Service{ID: id, ProviderKey: string(in.ProviderKey), State: string(in.State), BackendVersion: string(in.BackendVersion), DefaultService: in.DefaultService}
	if svc.ID == "" {
		fail(w, 400, "service.id is required")
		return nil, false
	}
	if svc.ProviderKey == "" {
		fail(w, 400, "service.provider_key is required")
		return nil, false
	}
	if err := a.Catalog.SaveService(r.Context(), svc); err != nil {
		internalError(w, err)
		return nil, false
	}
	saved, err := a.Catalog.GetService(r.Context(), svc.ID)
	if err != nil {
		internalError(w, err)
		return nil, false
	}
	return saved, true
}

// serviceHash is Service#to_hash: every attribute, null when unset.
func serviceHash(svc *catalog.Service) map[string]any {
	return map[string]any{"id": svc.ID, "state": cmp.Or(svc.State, "active"), "provider_key": svc.ProviderKey,
		"backend_version": nullable(svc.BackendVersion), "referrer_filters_required": false, "default_service": svc.DefaultService}
}

// metricHash is Metric#to_hash.
func metricHash(m *catalog.Metric) map[string]any {
	return map[string]any{"service_id": m.ServiceID, "id": m.ID, "parent_id": nullable(m.ParentID), "name": m.Name}
}

// appHash is Application#to_hash of a stored application (no redirect URL:
// null).
func appHash(app *catalog.Application) map[string]any {
	return map[string]any{"service_id": app.ServiceID, "id": app.ID, "state": app.State, "plan_id": app.PlanID,
		"plan_name": app.PlanName, "redirect_url": nullable(app.RedirectURL)}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (a *API) createService(w http.ResponseWriter, r *http.Request) {
	if svc, ok := a.saveServiceFrom(w, r, ""); ok {
		writeJSON(w, 201, map[string]any{"status": "created", "service": serviceHash(svc)})
	}
}

func (a *API) putService(w http.ResponseWriter, r *http.Request) {
	if svc, ok := a.saveServiceFrom(w, r, r.PathValue("id")); ok {
		writeJSON(w, 200, map[string]any{"status": "ok", "service": serviceHash(svc)})
	}
}

func (a *API) getService(w http.ResponseWriter, r *http.Request) {
	svc, err := a.Catalog.GetService(r.Context(), r.PathValue("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		// Apisonator's miss here has no status, only the error.
		writeJSON(w, 404, map[string]any{"error": "not_found"})
		return
	}
	if err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"status": "found", "service": serviceHash(svc)})
}

func (a *API) createTokens(w http.ResponseWriter, r *http.Request) {
	var in map[string]struct {
		ServiceID flexString `json:"service_id"`
	}
	if !decode(w, r, "service_tokens", &in) {
		return
	}
	for token, info := range in {
		// ServiceToken's ValidationErrors (Invalid: 422).
		if token == "" {
			fail(w, 422, "Service token cannot be blank")
			return
		}
		if info.ServiceID == "" {
			fail(w, 422, "Service ID cannot be blank")
			return
		}
	}
	for token, info := range in {
		if err := a.Catalog.SaveServiceToken(r.Context(), token, string(info.ServiceID)); err != nil {
			internalError(w, err)
			return
		}
	}
	writeJSON(w, 201, map[string]any{"status": "created"})
}

func (a *API) saveMetric(code int, status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name     flexString `json:"name"`
			ParentID flexString `json:"parent_id"`
		}
		if !decode(w, r, "metric", &in) {
			return
		}
		m := catalog.Metric{ServiceID: r.PathValue("sid"), ID: r.PathValue("id"), Name: string(in.Name), ParentID: string(in.ParentID)}
		if m.Name == "" {
			fail(w, 400, "metric.name is required")
			return
		}
		if err := a.Catalog.SaveMetric(r.Context(), m); err != nil {
			internalError(w, err)
			return
		}
		writeJSON(w, code, map[string]any{"status": status, "metric": metricHash(&m)})
	}
}

func (a *API) getMetric(w http.ResponseWriter, r *http.Request) {
	m, err := a.Catalog.GetMetric(r.Context(), r.PathValue("sid"), r.PathValue("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		writeJSON(w, 404, map[string]any{"status": "not_found", "error": "metric not found"})
		return
	}
	if err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"status": "found", "metric": metricHash(m)})
}

// appJSON is an application's attributes as given: nil when absent (or
// null), which Apisonator's Application#save leaves as stored.
type appJSON struct {
	State       *flexString `json:"state"`
	PlanID      *flexString `json:"plan_id"`
	PlanName    *flexString `json:"plan_name"`
	RedirectURL *flexString `json:"redirect_url"`
}

// saveApp is Application.save(attrs): the state is required (400
// bad_request, ApplicationHasNoState), the attributes given are written and
// the others kept, and the answer shows the attributes given (null for the
// others), as Apisonator's to_hash of the object it saved does.
func (a *API) saveApp(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var in appJSON
	if !decode(w, r, "application", &in) {
		return nil, false
	}
	sid, id := r.PathValue("sid"), r.PathValue("id")
	if in.State == nil {
		writeJSON(w, 400, map[string]any{"status": "bad_request", "error": `Application with id="` + id + `" has no state`})
		return nil, false
	}
	set := map[string]string{}
	out := map[string]any{"service_id": sid, "id": id}
	for f, v := range map[string]*flexString{"state": in.State, "plan_id": in.PlanID, "plan_name": in.PlanName, "redirect_url": in.RedirectURL} {
		if v == nil {
			out[f] = nil
			continue
		}
		set[f] = string(*v)
		out[f] = string(*v)
	}
	if err := a.Catalog.SaveApplicationFields(r.Context(), sid, id, set); err != nil {
		internalError(w, err)
		return nil, false
	}
	return out, true
}

func (a *API) createApp(w http.ResponseWriter, r *http.Request) {
	exists, err := a.Catalog.AppExists(r.Context(), r.PathValue("sid"), r.PathValue("id"))
	if err != nil {
		internalError(w, err)
		return
	}
	if exists {
		writeJSON(w, 405, map[string]any{"status": "exists", "error": "application cannot be created, exists already"})
		return
	}
	if app, ok := a.saveApp(w, r); ok {
		writeJSON(w, 201, map[string]any{"status": "created", "application": app})
	}
}

func (a *API) putApp(w http.ResponseWriter, r *http.Request) {
	exists, err := a.Catalog.AppExists(r.Context(), r.PathValue("sid"), r.PathValue("id"))
	if err != nil {
		internalError(w, err)
		return
	}
	if app, ok := a.saveApp(w, r); ok {
		st := "created"
		if exists {
			st = "modified"
		}
		writeJSON(w, 200, map[string]any{"status": st, "application": app})
	}
}

func (a *API) getApp(w http.ResponseWriter, r *http.Request) {
	app, err := a.Catalog.GetApplication(r.Context(), r.PathValue("sid"), r.PathValue("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		writeJSON(w, 404, map[string]any{"status": "not_found", "error": "application not found"})
		return
	}
	if err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"status": "found", "application": appHash(app)})
}

func (a *API) putUserKey(w http.ResponseWriter, r *http.Request) {
	sid, id := r.PathValue("sid"), r.PathValue("id")
	if err := a.Catalog.SaveUserKey(r.Context(), sid, id, r.PathValue("key")); err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"status": "modified", "application": map[string]string{"id": id}})
}

// appFound answers 404 (false) when the application does not exist, as
// Apisonator's before filters on its keys and utilization.
func (a *API) appFound(w http.ResponseWriter, r *http.Request) bool {
	ok, err := a.Catalog.AppExists(r.Context(), r.PathValue("sid"), r.PathValue("id"))
	if err != nil {
		internalError(w, err)
		return false
	}
	if !ok {
		writeJSON(w, 404, map[string]any{"status": "not_found", "error": "application not found"})
	}
	return ok
}

func (a *API) listAppKeys(w http.ResponseWriter, r *http.Request) {
	if !a.appFound(w, r) {
		return
	}
	snap := &catalog.Snapshot{}
	if err := a.Catalog.LoadApplication(r.Context(), snap, r.PathValue("sid"), r.PathValue("id")); err != nil {
		internalError(w, err)
		return
	}
	keys := []map[string]string{}
	for _, k := range snap.AppKeys {
		keys = append(keys, map[string]string{"service_id": r.PathValue("sid"), "app_id": r.PathValue("id"), "value": k})
	}
	writeJSON(w, 200, map[string]any{"status": "found", "application_keys": keys})
}

func (a *API) createAppKeys(w http.ResponseWriter, r *http.Request) {
	if !a.appFound(w, r) {
		return
	}
	var in struct {
		Value flexString `json:"value"`
	}
	if !decode(w, r, "application_key", &in) {
		return
	}
	if in.Value == "" {
		fail(w, 400, "application_key.value is required")
		return
	}
	if err := a.Catalog.AddAppKey(r.Context(), r.PathValue("sid"), r.PathValue("id"), string(in.Value)); err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, 201, map[string]any{"status": "created", "application_key": map[string]string{"app_id": r.PathValue("id"), "value": string(in.Value)}})
}

func limitJSON(sid, pid, mid string, p usage.Period, v int64) map[string]any {
	return map[string]any{"service_id": sid, "plan_id": pid, "metric_id": mid, string(p): v}
}

func (a *API) putLimit(w http.ResponseWriter, r *http.Request) {
	sid, pid, mid := r.PathValue("sid"), r.PathValue("pid"), r.PathValue("mid")
	p, err := usage.ParsePeriod(r.PathValue("period"))
	if err != nil {
		fail(w, 400, err.Error())
		return
	}
	var in map[string]json.RawMessage
	if !decode(w, r, "usagelimit", &in) {
		return
	}
	raw, ok := in[string(p)]
	if !ok {
		fail(w, 400, "missing parameter '"+string(p)+"'")
		return
	}
	var v flexString
	if err := json.Unmarshal(raw, &v); err != nil {
		fail(w, 400, "usagelimit."+string(p)+": "+err.Error())
		return
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		fail(w, 400, "usagelimit."+string(p)+" must be a non-negative integer")
		return
	}
	if err := a.Catalog.SaveLimit(r.Context(), sid, pid, catalog.Limit{MetricID: mid, Period: p, Value: n}); err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"status": "modified", "usagelimit": limitJSON(sid, pid, mid, p, n)})
}

func (a *API) getLimit(w http.ResponseWriter, r *http.Request) {
	sid, pid, mid := r.PathValue("sid"), r.PathValue("pid"), r.PathValue("mid")
	p, err := usage.ParsePeriod(r.PathValue("period"))
	if err != nil {
		fail(w, 400, err.Error())
		return
	}
	v, err := a.Catalog.GetLimit(r.Context(), sid, pid, mid, p)
	if errors.Is(err, catalog.ErrNotFound) {
		writeJSON(w, 404, map[string]any{"status": "not_found", "error": "usagelimit not found"})
		return
	}
	if err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"status": "found", "usagelimit": limitJSON(sid, pid, mid, p, v)})
}

func (a *API) deleteLimit(w http.ResponseWriter, r *http.Request) {
	p, err := usage.ParsePeriod(r.PathValue("period"))
	if err != nil {
		fail(w, 400, err.Error())
		return
	}
	if err := a.Catalog.DeleteLimit(r.Context(), r.PathValue("sid"), r.PathValue("pid"), r.PathValue("mid"), p); err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"status": "deleted"})
}

// utilization answers like Apisonator's: one entry per limit with its
// period, metric, max and current value.
func (a *API) utilization(w http.ResponseWriter, r *http.Request) {
	sid, aid := r.PathValue("sid"), r.PathValue("id")
	if _, err := a.Catalog.GetService(r.Context(), sid); errors.Is(err, catalog.ErrNotFound) {
		writeJSON(w, 404, map[string]any{"status": "not_found", "error": "service not found"})
		return
	} else if err != nil {
		internalError(w, err)
		return
	}
	snap := &catalog.Snapshot{}
	if err := a.Catalog.LoadApplication(r.Context(), snap, sid, aid); err != nil {
		internalError(w, err)
		return
	}
	if snap.App == nil {
		writeJSON(w, 404, map[string]any{"status": "not_found", "error": "application not found"})
		return
	}
	now := a.now()
	values, err := a.Usage.ReadMany(r.Context(), sid, aid, usage.Periods, now)
	if err != nil {
		internalError(w, err)
		return
	}
	out := []map[string]any{}
	for _, l := range snap.Limits {
		name := snap.Metrics.NameByID[l.MetricID]
		if name == "" {
			continue
		}
		out = append(out, map[string]any{"period": string(l.Period), "metric_name": name, "max_value": l.Value, "current_value": values[l.Period][name]})
	}
	writeJSON(w, 200, map[string]any{"status": "found", "utilization": out})
}

// usageTotals is perfrun's ground truth: the application's usage since
// ever, per metric name, as workers have applied it.
func (a *API) usageTotals(w http.ResponseWriter, r *http.Request) {
	tot, err := a.Usage.Totals(r.Context(), r.PathValue("sid"), r.PathValue("id"))
	if err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"status": "found", "service_id": r.PathValue("sid"), "application_id": r.PathValue("id"), "totals": tot})
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now().UTC()
}
