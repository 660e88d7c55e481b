// Package catalog stores what the provisioning (internal) API defines:
// services and their tokens, metrics with their hierarchy, applications with
// their user keys and application keys, and the usage limits of plans. It is
// read on every authorize/authrep, so reads are batched in pipelines.
//
// Redis layout:
//
//	catalog/service/{SID}                         hash: provider_key, state, backend_version
//	catalog/provider_key/{PK}/default_service     string: the provider's default service id
//	catalog/service_token/{TOKEN}/{SID}           string "1"
//	catalog/service/{SID}/metric_names            hash: metric id -> name
//	catalog/service/{SID}/metric_ids              hash: name -> metric id
//	catalog/service/{SID}/metric_parents          hash: metric id -> parent metric id
//	catalog/service/{SID}/app/{AID}               hash: state, plan_id, plan_name, redirect_url
//	catalog/service/{SID}/app/{AID}/keys          set of application keys
//	catalog/service/{SID}/user_key/{KEY}          string: application id
//	catalog/service/{SID}/plan/{PID}/limits       hash: "{metric id}/{period}" -> max value
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/perfrun/perfrun/system/usage"
	"github.com/redis/go-redis/v9"
)

// Store reads and writes the catalog.
type Store struct{ rdb redis.UniversalClient }

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// ErrNotFound is returned when an object does not exist.
var ErrNotFound = errors.New("not found")

// Service is a 3scale service.
type Service struct {
	ID             string `json:"id"`
	ProviderKey    string `json:"provider_key"`
	State          string `json:"state,omitempty"`
	BackendVersion string `json:"backend_version,omitempty"`
	DefaultService bool   `json:"default_service,omitempty"`
}

// Metric is a metric of a service; ParentID makes hierarchies (hits > search).
type Metric struct {
	ServiceID string `json:"service_id"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	ParentID  string `json:"parent_id,omitempty"`
}

// Application is an application of a service, on a plan.
type Application struct {
	ServiceID string `json:"service_id"`
	ID        string `json:"id"`
	State     string `json:"state"`
	PlanID    string `json:"plan_id"`
	PlanName  string `json:"plan_name"`
	// RedirectURL is the OAuth redirect URL ("" for none).
	RedirectURL string `json:"redirect_url,omitempty"`
}

// Limit is a usage limit of a plan: at most Value of metric per period.
type Limit struct {
	MetricID string
	Period   usage.Period
	Value    int64
}

func serviceKey(sid string) string                 { return "catalog/service/" + sid }
func defaultServiceKey(pk string) string           { return "catalog/provider_key/" + pk + "/default_service" }
func tokenKey(token, sid string) string            { return "catalog/service_token/" + token + "/" + sid }
func metricNamesKey(sid string) string             { return serviceKey(sid) + "/metric_names" }
func metricIDsKey(sid string) string               { return serviceKey(sid) + "/metric_ids" }
func metricParentsKey(sid string) string           { return serviceKey(sid) + "/metric_parents" }
func appKey(sid, aid string) string                { return serviceKey(sid) + "/app/" + aid }
func appKeysKey(sid, aid string) string            { return appKey(sid, aid) + "/keys" }
func userKeyKey(sid, key string) string            { return serviceKey(sid) + "/user_key/" + key }
func limitsKey(sid, pid string) string             { return serviceKey(sid) + "/plan/" + pid + "/limits" }
func limitField(mid string, p usage.Period) string { return mid + "/" + string(p) }

// SaveService creates or overwrites a service. The first service of a
// provider key becomes its default service, as in Apisonator, unless one is
// named default explicitly.
func (s *Store) SaveService(ctx context.Context, svc Service) error {
	if svc.ID == "" || svc.ProviderKey == "" {
		return fmt.Errorf("service: id and provider_key are required")
	}
	// Service#state=: only no state or "active" is active; any other state
	// is suspended.
	if svc.State == "" || svc.State == "active" {
		svc.State = "active"
	} else {
		svc.State = "suspended"
	}
	if svc.BackendVersion == "" {
		svc.BackendVersion = "2"
	}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, serviceKey(svc.ID), "provider_key", svc.ProviderKey, "state", svc.State, "backend_version", svc.BackendVersion)
	if svc.DefaultService {
		pipe.Set(ctx, defaultServiceKey(svc.ProviderKey), svc.ID, 0)
	} else {
		pipe.SetNX(ctx, defaultServiceKey(svc.ProviderKey), svc.ID, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("saving service %s: %w", svc.ID, err)
	}
	return nil
}

// GetService loads a service by id.
func (s *Store) GetService(ctx context.Context, sid string) (*Service, error) {
	m, err := s.rdb.HGetAll(ctx, serviceKey(sid)).Result()
	if err != nil {
		return nil, fmt.Errorf("loading service %s: %w", sid, err)
	}
	if m["provider_key"] == "" {
		return nil, ErrNotFound
	}
	def, _ := s.rdb.Get(ctx, defaultServiceKey(m["provider_key"])).Result()
	return &Service{ID: sid, ProviderKey: m["provider_key"], State: m["state"], BackendVersion: m["backend_version"], DefaultService: def == sid}, nil
}

// DefaultServiceID is the provider key's default service, "" if none.
func (s *Store) DefaultServiceID(ctx context.Context, pk string) (string, error) {
	id, err := s.rdb.Get(ctx, defaultServiceKey(pk)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("loading default service of provider key: %w", err)
	}
	return id, nil
}

// SaveServiceToken associates a service token with a service.
func (s *Store) SaveServiceToken(ctx context.Context, token, sid string) error {
	if token == "" || sid == "" {
		return fmt.Errorf("service token: token and service_id are required")
	}
	if err := s.rdb.Set(ctx, tokenKey(token, sid), "1", 0).Err(); err != nil {
		return fmt.Errorf("saving service token: %w", err)
	}
	return nil
}

// SaveMetric creates or overwrites a metric.
func (s *Store) SaveMetric(ctx context.Context, m Metric) error {
	if m.ServiceID == "" || m.ID == "" || m.Name == "" {
		return fmt.Errorf("metric: service_id, id and name are required")
	}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, metricNamesKey(m.ServiceID), m.ID, m.Name)
	pipe.HSet(ctx, metricIDsKey(m.ServiceID), m.Name, m.ID)
	if m.ParentID != "" {
		pipe.HSet(ctx, metricParentsKey(m.ServiceID), m.ID, m.ParentID)
	} else {
		pipe.HDel(ctx, metricParentsKey(m.ServiceID), m.ID)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("saving metric %s: %w", m.ID, err)
	}
	return nil
}

// GetMetric loads a metric.
func (s *Store) GetMetric(ctx context.Context, sid, mid string) (*Metric, error) {
	name, err := s.rdb.HGet(ctx, metricNamesKey(sid), mid).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading metric %s: %w", mid, err)
	}
	parent, _ := s.rdb.HGet(ctx, metricParentsKey(sid), mid).Result()
	return &Metric{ServiceID: sid, ID: mid, Name: name, ParentID: parent}, nil
}

// AppExists says whether an application exists.
func (s *Store) AppExists(ctx context.Context, sid, aid string) (bool, error) {
	n, err := s.rdb.Exists(ctx, appKey(sid, aid)).Result()
	if err != nil {
		return false, fmt.Errorf("checking application %s: %w", aid, err)
	}
	return n == 1, nil
}

// SaveApplication creates or overwrites an application: its state (active
// when empty) and every other attribute, an empty one removed.
func (s *Store) SaveApplication(ctx context.Context, a Application) error {
	if a.State == "" {
		a.State = "active"
	}
	return s.SaveApplicationFields(ctx, a.ServiceID, a.ID, map[string]string{
		"state": a.State, "plan_id": a.PlanID, "plan_name": a.PlanName, "redirect_url": a.RedirectURL})
}

// ApplicationFields are the attributes an application stores.
var ApplicationFields = []string{"state", "plan_id", "plan_name", "redirect_url"}

// SaveApplicationFields writes the attributes in set (state, plan_id,
// plan_name, redirect_url) and leaves the others as they were, as
// Apisonator's Application#save persists only the attributes given. An
// empty redirect_url is removed.
func (s *Store) SaveApplicationFields(ctx context.Context, sid, aid string, set map[string]string) error {
	if sid == "" || aid == "" {
		return fmt.Errorf("application: service_id and id are required")
	}
	var args []any
	var del []string
	for _, f := range ApplicationFields {
		v, ok := set[f]
		switch {
		case !ok:
		case f == "redirect_url" && v == "":
			del = append(del, f)
		default:
			args = append(args, f, v)
		}
	}
	pipe := s.rdb.TxPipeline()
	if len(args) > 0 {
		pipe.HSet(ctx, appKey(sid, aid), args...)
	}
	if len(del) > 0 {
		pipe.HDel(ctx, appKey(sid, aid), del...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("saving application %s: %w", aid, err)
	}
	return nil
}

// GetApplication loads an application.
func (s *Store) GetApplication(ctx context.Context, sid, aid string) (*Application, error) {
	m, err := s.rdb.HGetAll(ctx, appKey(sid, aid)).Result()
	if err != nil {
		return nil, fmt.Errorf("loading application %s: %w", aid, err)
	}
	if len(m) == 0 {
		return nil, ErrNotFound
	}
	return &Application{ServiceID: sid, ID: aid, State: m["state"], PlanID: m["plan_id"], PlanName: m["plan_name"], RedirectURL: m["redirect_url"]}, nil
}

// SaveUserKey maps a user_key to an application.
func (s *Store) SaveUserKey(ctx context.Context, sid, aid, key string) error {
	if err := s.rdb.Set(ctx, userKeyKey(sid, key), aid, 0).Err(); err != nil {
		return fmt.Errorf("saving user key: %w", err)
	}
	return nil
}

// AddAppKey adds an application key.
func (s *Store) AddAppKey(ctx context.Context, sid, aid, key string) error {
	if err := s.rdb.SAdd(ctx, appKeysKey(sid, aid), key).Err(); err != nil {
		return fmt.Errorf("saving application key: %w", err)
	}
	return nil
}

// SaveLimit sets a usage limit of a plan.
func (s *Store) SaveLimit(ctx context.Context, sid, pid string, l Limit) error {
	if err := s.rdb.HSet(ctx, limitsKey(sid, pid), limitField(l.MetricID, l.Period), l.Value).Err(); err != nil {
		return fmt.Errorf("saving usage limit: %w", err)
	}
	return nil
}

// GetLimit reads one usage limit.
func (s *Store) GetLimit(ctx context.Context, sid, pid, mid string, p usage.Period) (int64, error) {
	v, err := s.rdb.HGet(ctx, limitsKey(sid, pid), limitField(mid, p)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("loading usage limit: %w", err)
	}
	return v, nil
}

// DeleteLimit removes a usage limit.
func (s *Store) DeleteLimit(ctx context.Context, sid, pid, mid string, p usage.Period) error {
	return s.rdb.HDel(ctx, limitsKey(sid, pid), limitField(mid, p)).Err()
}

// Credentials is what a transaction request carries to identify the caller.
type Credentials struct {
	ServiceID    string
	ServiceToken string
	UserKey      string
	AppID        string
}

// Snapshot is everything an authorization needs, read in few round trips.
type Snapshot struct {
	Service      *Service // nil when the service id does not exist
	TokenValid   bool
	UserKeyAppID string // application id the user key maps to, "" if none
	App          *Application
	AppKeys      []string
	Metrics      Metrics
	Limits       []Limit // of the application's plan, sorted by metric name then period
	// Usage is the application's usage per period and metric name, when
	// loaded by LoadAuth.
	Usage map[usage.Period]map[string]int64
}

// Metrics are a service's metrics: names by id, ids by name, parents.
type Metrics struct {
	NameByID map[string]string
	IDByName map[string]string
	Parent   map[string]string
}

// Ancestors returns the ids of the metric's parents, nearest first. A cycle
// in the hierarchy stops the walk.
func (m Metrics) Ancestors(id string) []string {
	var out []string
	seen := map[string]bool{id: true}
	for p := m.Parent[id]; p != "" && !seen[p]; p = m.Parent[p] {
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// LoadService reads the service and, when asked, checks a token and resolves
// a user key in one round trip.
func (s *Store) LoadService(ctx context.Context, c Credentials) (*Snapshot, error) {
	pipe := s.rdb.Pipeline()
	svc := pipe.HGetAll(ctx, serviceKey(c.ServiceID))
	var tok *redis.IntCmd
	if c.ServiceToken != "" {
		tok = pipe.Exists(ctx, tokenKey(c.ServiceToken, c.ServiceID))
	}
	var uk *redis.StringCmd
	if c.UserKey != "" && c.AppID == "" {
		uk = pipe.Get(ctx, userKeyKey(c.ServiceID, c.UserKey))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("loading service %s: %w", c.ServiceID, err)
	}
	snap := &Snapshot{}
	if m := svc.Val(); m["provider_key"] != "" {
		snap.Service = &Service{ID: c.ServiceID, ProviderKey: m["provider_key"], State: m["state"], BackendVersion: m["backend_version"]}
	}
	if tok != nil {
		snap.TokenValid = tok.Val() == 1
	}
	if uk != nil {
		snap.UserKeyAppID = uk.Val()
	}
	return snap, nil
}

// LoadApplication fills in the application, its keys, the service's metrics
// and the plan's limits (two round trips: the plan id comes with the app).
func (s *Store) LoadApplication(ctx context.Context, snap *Snapshot, sid, aid string) error {
	pipe := s.rdb.Pipeline()
	app := pipe.HGetAll(ctx, appKey(sid, aid))
	keys := pipe.SMembers(ctx, appKeysKey(sid, aid))
	names := pipe.HGetAll(ctx, metricNamesKey(sid))
	parents := pipe.HGetAll(ctx, metricParentsKey(sid))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("loading application %s: %w", aid, err)
	}
	m := app.Val()
	if len(m) == 0 {
		return nil
	}
	snap.App = &Application{ServiceID: sid, ID: aid, State: m["state"], PlanID: m["plan_id"], PlanName: m["plan_name"], RedirectURL: m["redirect_url"]}
	snap.AppKeys = keys.Val()
	snap.Metrics = Metrics{NameByID: names.Val(), Parent: parents.Val(), IDByName: make(map[string]string, len(names.Val()))}
	for id, n := range snap.Metrics.NameByID {
		snap.Metrics.IDByName[n] = id
	}
	raw, err := s.rdb.HGetAll(ctx, limitsKey(sid, snap.App.PlanID)).Result()
	if err != nil {
		return fmt.Errorf("loading limits of plan %s: %w", snap.App.PlanID, err)
	}
	snap.Limits = parseLimits(raw)
	sortLimits(snap)
	return nil
}

func parseLimits(raw map[string]string) []Limit {
	out := make([]Limit, 0, len(raw))
	for f, v := range raw {
		i := strings.LastIndexByte(f, '/')
		if i < 0 {
			continue
		}
		p, err := usage.ParsePeriod(f[i+1:])
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, Limit{MetricID: f[:i], Period: p, Value: n})
	}
	return out
}

func periodIndex(p usage.Period) int {
	for i, q := range usage.Periods {
		if q == p {
			return i
		}
	}
	return len(usage.Periods)
}
