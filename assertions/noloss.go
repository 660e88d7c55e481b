package assertions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/scenario"
)

// KindNoLoss compares what clients were told was accepted (a k6 counter)
// with the system's own ground truth (the usage totals its internal API
// reads back) once the queue has drained: lost reports and doubled ones
// both count.
const KindNoLoss = "noLoss"

type noLossKind struct{}

func (noLossKind) Name() string                 { return KindNoLoss }
func (noLossKind) Of(a scenario.Assertion) bool { return a.NoLoss != nil }
func (noLossKind) Tolerance() (Tolerance, bool) { return Tolerance{}, false }

func (noLossKind) Evaluate(ctx context.Context, env *Env, a scenario.Assertion) Result {
	n := a.NoLoss
	fail := func(err error) Result {
		return Result{Name: a.Name, Kind: KindNoLoss, Op: "<=", Bound: n.Tolerance, Status: Error, Error: err.Error()}
	}
	if env.K6Count == nil || env.ServiceURL == nil {
		return fail(errors.New("no k6 counts or service URLs in this run"))
	}
	accepted, err := env.K6Count(ctx, n.K6Metric)
	if err != nil {
		return fail(err)
	}
	base, err := env.ServiceURL(ctx, n.Listener)
	if err != nil {
		return fail(err)
	}
	apps := make([]string, n.Apps)
	for i := range apps {
		apps[i] = n.AppPrefix + strconv.Itoa(i)
	}
	hc := env.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	user, pass, err := internalAPICredentials(ctx, env, n.Secret)
	if err != nil {
		return fail(err)
	}
	if user != "" || pass != "" {
		c := *hc
		c.Transport = basicAuth{user: user, pass: pass, next: cmp.Or[http.RoundTripper](hc.Transport, http.DefaultTransport)}
		hc = &c
	}
	applied, err := collectors.UsageTotals(ctx, hc, base, n.Service, apps, n.Metric)
	if err != nil {
		return fail(err)
	}
	// |applied - accepted|: lost reports and doubled ones both count.
	diff := applied - accepted
	if diff < 0 {
		diff = -diff
	}
	res := Check(a.Name, KindNoLoss,
		fmt.Sprintf("|usage totals (%g) - k6 accepted hits (%g)| ≤ %g", applied, accepted, n.Tolerance), "<=", diff, n.Tolerance)
	res.Stat, res.Unit = "|applied - accepted|", "hits"
	res.Series = []Series{
		{Labels: map[string]string{"source": "k6", "metric": n.K6Metric}, Points: []Point{{T: env.Window.End.UnixMilli(), V: accepted}}},
		{Labels: map[string]string{"source": "system", "metric": n.Metric}, Points: []Point{{T: time.Now().UnixMilli(), V: applied}}},
	}
	return res
}

// DefaultInternalAPISecret holds the internal API's credentials when a
// noLoss names none: the name the 3scale operator gives Apisonator's, and
// the reference fixtures' (fixtures/system/base/internal-api.yaml).
const DefaultInternalAPISecret = "backend-internal-api"

// internalAPICredentials reads username and password from the Secret named
// (which must exist), or from DefaultInternalAPISecret when it exists.
func internalAPICredentials(ctx context.Context, env *Env, name string) (user, pass string, err error) {
	named := name != ""
	if !named {
		name = DefaultInternalAPISecret
	}
	if env.Secret == nil {
		if named {
			return "", "", fmt.Errorf("secret %s: no cluster to read it from", name)
		}
		return "", "", nil
	}
	data, found, err := env.Secret(ctx, name)
	if err != nil {
		return "", "", fmt.Errorf("reading the internal API's credentials (secret %s): %w", name, err)
	}
	if !found {
		if named {
			return "", "", fmt.Errorf("secret %s (noLoss.secret): not found in the run's namespace", name)
		}
		return "", "", nil
	}
	return string(data["username"]), string(data["password"]), nil
}

// basicAuth sends HTTP basic authentication with every request.
type basicAuth struct {
	user, pass string
	next       http.RoundTripper
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return b.next.RoundTrip(r)
}
