package backend

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/grafana/sobek"
	"go.k6.io/k6/metrics"
)

// Items are the controller's work: the listener's internal API creates one,
// a controller pod reconciles it and writes who did it and when.

// ItemResult is what reconcileItem and waitItem return.
type ItemResult struct {
	Key         string  `js:"key"`
	Reconciled  bool    `js:"reconciled"`
	Owner       string  `js:"owner"`       // the pod that reconciled it, "none" if nobody did in time
	Latency     float64 `js:"latency"`     // ms from created_at to reconciled_at (the system's clocks)
	DeadlineMet bool    `js:"deadlineMet"` // reconciled within the deadline
	Reconciles  int     `js:"reconciles"`
	Error       string  `js:"error"`
}

type itemDoc struct {
	Key          string `json:"key"`
	CreatedAt    string `json:"created_at"`
	ReconciledAt string `json:"reconciled_at"`
	ReconciledBy string `json:"reconciled_by"`
	Bucket       string `json:"bucket"`
	Reconciles   int    `json:"reconciles"`
}

type itemAnswer struct {
	Status string  `json:"status"`
	Item   itemDoc `json:"item"`
	Error  string  `json:"error"`
}

// waitOptions bound the wait: deadline is what the item should meet,
// timeout how long to keep looking (default 2× deadline), poll how often.
type waitOptions struct {
	deadline, timeout, poll time.Duration
}

func (c *Client) waitOptionsOf(call string, v sobek.Value) (waitOptions, error) {
	o := optionsOf(c.mi.vu.Runtime(), v)
	var w waitOptions
	var err error
	if w.deadline, err = durationOf(o.get("deadline"), call+": deadline", 5*time.Second); err != nil {
		return w, err
	}
	if w.timeout, err = durationOf(o.get("timeout"), call+": timeout", 2*w.deadline); err != nil {
		return w, err
	}
	if w.poll, err = durationOf(o.get("poll"), call+": poll", 25*time.Millisecond); err != nil {
		return w, err
	}
	return w, nil
}

// CreateItem creates the item with this key (idempotent: an existing item is
// found, not an error). It returns the error text, "" when it worked.
func (c *Client) CreateItem(key string) string {
	if err := c.createItem(c.mi.vu.Context(), key); err != nil {
		return err.Error()
	}
	return ""
}

func (c *Client) createItem(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("createItem: key: must not be empty")
	}
	return c.internal(ctx, c.timeout, "POST", "/internal/items/", map[string]any{"item": map[string]any{"key": key}})
}

// ReconcileItem creates an item and waits, bounded, until a controller
// reconciled it: opts {deadline: '2s', timeout: '4s', poll: '25ms'}.
func (c *Client) ReconcileItem(key string, opts sobek.Value) *ItemResult {
	w, err := c.waitOptionsOf("reconcileItem", opts)
	if err != nil {
		c.mi.throw(err)
	}
	if c.mi.vu.State() == nil {
		c.mi.throw(errors.New("reconcileItem: call it from the default function, not the init context"))
	}
	ctx := c.mi.vu.Context()
	if err := c.createItem(ctx, key); err != nil {
		r := &ItemResult{Key: key, Owner: "none", Error: err.Error()}
		c.emitItem(ctx, r)
		return r
	}
	return c.waitItem(ctx, key, w)
}

// WaitItem waits for an item made earlier (see reconcileItem).
func (c *Client) WaitItem(key string, opts sobek.Value) *ItemResult {
	w, err := c.waitOptionsOf("waitItem", opts)
	if err != nil {
		c.mi.throw(err)
	}
	if c.mi.vu.State() == nil {
		c.mi.throw(errors.New("waitItem: call it from the default function, not the init context"))
	}
	return c.waitItem(c.mi.vu.Context(), key, w)
}

func (c *Client) waitItem(ctx context.Context, key string, w waitOptions) *ItemResult {
	r := &ItemResult{Key: key, Owner: "none"}
	stop := time.Now().Add(w.timeout)
	path := "/internal/items/" + url.PathEscape(key)
	for {
		var ans itemAnswer
		status, _, err := c.internalJSON(ctx, c.timeout, "GET", path, nil, &ans)
		switch {
		case err != nil:
			r.Error = err.Error()
		case status == 404:
			r.Error = "item not found"
		default:
			r.Error = ""
			if done, err := r.fill(ans.Item, w.deadline); err != nil {
				r.Error = err.Error()
			} else if done {
				c.emitItem(ctx, r)
				return r
			}
		}
		if time.Now().Add(w.poll).After(stop) {
			if r.Error == "" {
				r.Error = fmt.Sprintf("not reconciled within %s", w.timeout)
			}
			c.emitItem(ctx, r)
			return r
		}
		select {
		case <-ctx.Done():
			r.Error = ctx.Err().Error()
			return r // the test is over: no samples
		case <-time.After(w.poll):
		}
	}
}

// fill reads a reconciled item; done is false while nobody reconciled it.
func (r *ItemResult) fill(it itemDoc, deadline time.Duration) (done bool, err error) {
	if it.ReconciledAt == "" {
		return false, nil
	}
	created, err := time.Parse(time.RFC3339Nano, it.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("item %s: created_at: %w", r.Key, err)
	}
	reconciled, err := time.Parse(time.RFC3339Nano, it.ReconciledAt)
	if err != nil {
		return false, fmt.Errorf("item %s: reconciled_at: %w", r.Key, err)
	}
	lat := reconciled.Sub(created)
	r.Reconciled = true
	r.Owner = it.ReconciledBy
	if r.Owner == "" {
		r.Owner = "unknown"
	}
	r.Reconciles = it.Reconciles
	r.Latency = float64(lat) / float64(time.Millisecond)
	r.DeadlineMet = lat <= deadline
	return true, nil
}

func (c *Client) emitItem(ctx context.Context, r *ItemResult) {
	state := c.mi.vu.State()
	if state == nil {
		return
	}
	ctm := state.Tags.GetCurrentValues()
	tags := ctm.Tags.With("owner", r.Owner)
	now := time.Now()
	missed := 1.0
	if r.DeadlineMet {
		missed = 0
	}
	samples := metrics.Samples{{
		TimeSeries: metrics.TimeSeries{Metric: c.mi.metrics.itemDeadlineMiss, Tags: tags},
		Time:       now, Value: missed, Metadata: ctm.Metadata,
	}}
	if r.Reconciled {
		samples = append(samples, metrics.Sample{
			TimeSeries: metrics.TimeSeries{Metric: c.mi.metrics.itemLatency, Tags: tags},
			Time:       now, Value: r.Latency, Metadata: ctm.Metadata,
		})
	} else {
		samples = append(samples, metrics.Sample{
			TimeSeries: metrics.TimeSeries{Metric: c.mi.metrics.itemsUnreconciled, Tags: tags},
			Time:       now, Value: 1, Metadata: ctm.Metadata,
		})
	}
	metrics.PushIfNotDone(ctx, state.Samples, samples)
}
