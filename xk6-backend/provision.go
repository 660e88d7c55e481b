package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/sobek"
)

// Provisioning goes through the listener's internal API (Apisonator's
// app/api/internal paths). Every request used is an upsert, so running
// setup() twice against the same system does not fail.

var periods = map[string]bool{"minute": true, "hour": true, "day": true, "week": true, "month": true, "year": true, "eternity": true}

// ProvisionSpec is what provision() takes.
type ProvisionSpec struct {
	Service      ServiceSpec  `js:"service"`
	Metrics      []MetricSpec `js:"metrics"`
	Plans        []PlanSpec   `js:"plans"`
	Applications AppsSpec     `js:"applications"`
	Concurrency  int          `js:"concurrency"`
}

// ServiceSpec names the service; empty fields take the client's credentials.
// BackendVersion defaults to "1" (user keys), or "2" (app id and app key)
// when the applications get app keys.
type ServiceSpec struct {
	ID             string `js:"id"`
	ProviderKey    string `js:"providerKey"`
	ServiceToken   string `js:"serviceToken"`
	BackendVersion string `js:"backendVersion"`
}

// MetricSpec is one metric; its id is its name.
type MetricSpec struct {
	Name   string `js:"name"`
	Parent string `js:"parent"`
}

// PlanSpec is a plan and its limits: {metric: {period: max}}.
type PlanSpec struct {
	ID     string                      `js:"id"`
	Name   string                      `js:"name"`
	Limits map[string]map[string]int64 `js:"limits"`
}

// AppsSpec makes count applications named idPrefix+i with user keys
// keyPrefix+i (i from 0), and with appKeys also an app key "secret-"+i.
type AppsSpec struct {
	Count     int    `js:"count"`
	Plan      string `js:"plan"`
	IDPrefix  string `js:"idPrefix"`
	KeyPrefix string `js:"keyPrefix"`
	AppKeys   bool   `js:"appKeys"`
}

// ProvisionResult says what was written.
type ProvisionResult struct {
	Service      string `js:"service"`
	Metrics      int    `js:"metrics"`
	Plans        int    `js:"plans"`
	Applications int    `js:"applications"`
	IDPrefix     string `js:"idPrefix"`
	KeyPrefix    string `js:"keyPrefix"`
}

func (s *ProvisionSpec) defaults(creds Credentials) error {
	if s.Service.ID == "" {
		s.Service.ID = creds.ServiceID
	}
	if s.Service.ID == "" {
		return errors.New("service.id: needed (or serviceId on the client)")
	}
	if s.Service.ProviderKey == "" {
		s.Service.ProviderKey = creds.ProviderKey
	}
	if s.Service.ProviderKey == "" {
		// Apisonator keeps a provider key on every service; a client that
		// authenticates with a service token still has to give one.
		s.Service.ProviderKey = "pk-" + s.Service.ID
	}
	if s.Service.ServiceToken == "" {
		s.Service.ServiceToken = creds.ServiceToken
	}
	if s.Service.BackendVersion == "" {
		// Apisonator names an application by user key alone on a version 1
		// service and by app_id alone on any other: applications with app
		// keys are authenticated by {appId, appKey} (version 2), the rest
		// by their user keys (version 1).
		s.Service.BackendVersion = "1"
		if s.Applications.AppKeys {
			s.Service.BackendVersion = "2"
		}
	}
	if len(s.Metrics) == 0 {
		s.Metrics = []MetricSpec{{Name: "hits"}}
	}
	for i, m := range s.Metrics {
		if m.Name == "" {
			return fmt.Errorf("metrics[%d].name: needed", i)
		}
	}
	for i, p := range s.Plans {
		if p.ID == "" {
			return fmt.Errorf("plans[%d].id: needed", i)
		}
		if p.Name == "" {
			s.Plans[i].Name = p.ID
		}
		for m, lim := range p.Limits {
			for period, v := range lim {
				if !periods[period] {
					return fmt.Errorf("plans[%d].limits.%s.%s: period must be one of minute hour day week month year eternity", i, m, period)
				}
				if v < 0 {
					return fmt.Errorf("plans[%d].limits.%s.%s: must be >= 0", i, m, period)
				}
			}
		}
	}
	a := &s.Applications
	if a.Count < 0 {
		return errors.New("applications.count: must be >= 0")
	}
	if a.Count > 0 && a.Plan == "" {
		if len(s.Plans) == 0 {
			return errors.New("applications.plan: needed (or define plans)")
		}
		a.Plan = s.Plans[0].ID
	}
	if a.IDPrefix == "" {
		a.IDPrefix = "app-"
	}
	if a.KeyPrefix == "" {
		a.KeyPrefix = "key-"
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 8
	}
	return nil
}

// Provision writes a service, its metrics, plans with limits and N
// applications with user keys. Call it from setup().
func (c *Client) Provision(specV sobek.Value) (*ProvisionResult, error) {
	if c.mi.vu.State() == nil {
		return nil, errors.New("provision: call it from setup(), not the init context")
	}
	var spec ProvisionSpec
	if specV != nil && !sobek.IsUndefined(specV) {
		if err := c.mi.vu.Runtime().ExportTo(specV, &spec); err != nil {
			return nil, fmt.Errorf("provision: reading the spec: %w", err)
		}
	}
	if err := spec.defaults(c.creds); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	res, err := c.provision(c.mi.vu.Context(), spec)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	return res, nil
}

func (c *Client) provision(ctx context.Context, spec ProvisionSpec) (*ProvisionResult, error) {
	setup := c.setupTimeout()
	svc := url.PathEscape(spec.Service.ID)
	var parent any
	service := map[string]any{"id": spec.Service.ID, "state": "active", "backend_version": spec.Service.BackendVersion,
		"provider_key": spec.Service.ProviderKey}
	if err := c.internal(ctx, setup, "POST", "/internal/services/", map[string]any{"service": service}); err != nil {
		return nil, err
	}
	if spec.Service.ServiceToken != "" {
		body := map[string]any{"service_tokens": map[string]any{spec.Service.ServiceToken: map[string]any{"service_id": spec.Service.ID}}}
		if err := c.internal(ctx, setup, "POST", "/internal/service_tokens/", body); err != nil {
			return nil, err
		}
	}
	// Parents first, so that a child never points at a metric not yet there.
	ms := append([]MetricSpec(nil), spec.Metrics...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Parent == "" && ms[j].Parent != "" })
	for _, m := range ms {
		parent = nil
		if m.Parent != "" {
			parent = m.Parent
		}
		body := map[string]any{"metric": map[string]any{"name": m.Name, "parent_id": parent}}
		if err := c.internal(ctx, setup, "POST", "/internal/services/"+svc+"/metrics/"+url.PathEscape(m.Name), body); err != nil {
			return nil, err
		}
	}
	for _, p := range spec.Plans {
		for metric, lim := range p.Limits {
			for period, v := range lim {
				path := "/internal/services/" + svc + "/plans/" + url.PathEscape(p.ID) + "/usagelimits/" + url.PathEscape(metric) + "/" + period
				if err := c.internal(ctx, setup, "PUT", path, map[string]any{"usagelimit": map[string]any{period: v}}); err != nil {
					return nil, err
				}
			}
		}
	}
	planName := spec.Applications.Plan
	for _, p := range spec.Plans {
		if p.ID == spec.Applications.Plan {
			planName = p.Name
		}
	}
	if err := c.provisionApps(ctx, spec.Service.ID, spec.Applications, planName, spec.Concurrency); err != nil {
		return nil, err
	}
	return &ProvisionResult{
		Service: spec.Service.ID, Metrics: len(spec.Metrics), Plans: len(spec.Plans),
		Applications: spec.Applications.Count, IDPrefix: spec.Applications.IDPrefix, KeyPrefix: spec.Applications.KeyPrefix,
	}, nil
}

func (c *Client) provisionApps(ctx context.Context, svc string, a AppsSpec, planName string, concurrency int) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(concurrency, max(a.Count, 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= a.Count || ctx.Err() != nil {
					return
				}
				if err := c.provisionApp(ctx, svc, a, planName, i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

func (c *Client) provisionApp(ctx context.Context, svc string, a AppsSpec, planName string, i int) error {
	setup := c.setupTimeout()
	id := a.IDPrefix + strconv.Itoa(i)
	appPath := "/internal/services/" + url.PathEscape(svc) + "/applications/" + url.PathEscape(id)
	body := map[string]any{"application": map[string]any{"service_id": svc, "id": id, "state": "active", "plan_id": a.Plan, "plan_name": planName}}
	if err := c.internal(ctx, setup, "PUT", appPath, body); err != nil {
		return err
	}
	if err := c.internal(ctx, setup, "PUT", appPath+"/key/"+url.PathEscape(a.KeyPrefix+strconv.Itoa(i)), nil); err != nil {
		return err
	}
	if a.AppKeys {
		body := map[string]any{"application_key": map[string]any{"value": "secret-" + strconv.Itoa(i)}}
		if err := c.internal(ctx, setup, "POST", appPath+"/keys/", body); err != nil {
			return err
		}
	}
	return nil
}

// internal sends one JSON request to the internal API and checks its status:
// any 2xx is fine, and so is 409 (already there).
func (c *Client) internal(ctx context.Context, timeout time.Duration, method, path string, body any) error {
	_, _, err := c.internalJSON(ctx, timeout, method, path, body, nil)
	return err
}

// setupCallTimeout is the least time an internal API call of provision()
// may take (the load's own internal calls, items, keep the client's timeout). The client's timeout is a bound on the load's calls; setup is
// not measured, and a system the scenario means to be slow (a listener held
// to 20m CPU, whose first request after start took over 5 s) must still be
// provisioned so that the load can show how slow it is. k6's setupTimeout
// (60 s by default) still bounds the whole of setup.
const setupCallTimeout = 30 * time.Second

// setupTimeout bounds one internal API call of provision().
func (c *Client) setupTimeout() time.Duration { return max(c.timeout, setupCallTimeout) }

// internalJSON is internal that also decodes the answer into out, and
// returns the status; a 404 is returned as a status, not an error, when
// out is given.

func (c *Client) internalJSON(ctx context.Context, timeout time.Duration, method, path string, body, out any) (int, []byte, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, nil, fmt.Errorf("%s %s: encoding: %w", method, path, err)
		}
	}
	t := c.nextTarget()
	resp, err := t.do(ctx, method, []byte(path), c.internalAuth, "application/json", raw, timeout, nil)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case resp.status >= 200 && resp.status < 300, resp.status == 409:
	case resp.status == 404 && out != nil:
		return resp.status, resp.body, nil
	default:
		return resp.status, resp.body, fmt.Errorf("%s %s%s: HTTP %d: %s", method, t.base, path, resp.status, truncate(resp.body, 200))
	}
	if out != nil && len(resp.body) > 0 {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return resp.status, resp.body, fmt.Errorf("%s %s%s: decoding answer: %w", method, t.base, path, err)
		}
	}
	return resp.status, resp.body, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
