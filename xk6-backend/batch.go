package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/sobek"
	"go.k6.io/k6/lib"
)

// BatchSummary is what authrepMany returns.
type BatchSummary struct {
	Count      int     `js:"count"` // calls made (fewer than asked only when the test ended first)
	Authorized int     `js:"authorized"`
	Limited    int     `js:"limited"`
	Rejected   int     `js:"rejected"`
	Errors     int     `js:"errors"`
	FirstError string  `js:"firstError"`
	Duration   float64 `js:"duration"` // milliseconds, wall clock of the whole batch
	Engine     string  `js:"engine"`
}

func (s *BatchSummary) record(outcome, errText string) {
	s.Count++
	switch outcome {
	case OutcomeAuthorized:
		s.Authorized++
	case OutcomeLimited:
		s.Limited++
	case OutcomeRejected:
		s.Rejected++
	default:
		s.Errors++
		if s.FirstError == "" {
			s.FirstError = errText
		}
	}
}

func (s *BatchSummary) merge(o BatchSummary) {
	s.Count += o.Count
	s.Authorized += o.Authorized
	s.Limited += o.Limited
	s.Rejected += o.Rejected
	s.Errors += o.Errors
	if s.FirstError == "" {
		s.FirstError = o.FirstError
	}
}

// batch is one authrepMany call.
type batch struct {
	ctx         context.Context
	state       *lib.State
	count       int64
	concurrency int
	usage       []usageEntry
	// key appends the user key of call i to dst.
	key func(dst []byte, i int64) []byte
}

// flushEvery bounds how many samples a batch holds before handing them to
// the metrics engine.
const flushEvery = 1024

// AuthrepMany runs count authrep calls from Go, concurrency at a time, keys
// drawn from a chooser: the requests and the metrics are the same as count
// authrep() calls, without a JS round trip per request. opts:
// {keys: chooser, keyPrefix: 'key-', usage: {hits: 1}, concurrency: 8,
// engine: 'epoll' | 'goroutines'}. On Linux the default engine is one
// event loop over non-blocking sockets (as wrk does), elsewhere one
// goroutine per connection.
func (c *Client) AuthrepMany(count int64, opts sobek.Value) *BatchSummary {
	state := c.mi.vu.State()
	if state == nil {
		c.mi.throw(errors.New("authrepMany: calls must be made in setup(), the default function or teardown()"))
	}
	o := optionsOf(c.mi.vu.Runtime(), opts)
	if count <= 0 {
		c.mi.throw(fmt.Errorf("authrepMany: count: must be positive, got %d", count))
	}
	ch, ok := exportChooser(o.get("keys"))
	if !ok {
		c.mi.throw(errors.New("authrepMany: keys: want a chooser from backend.uniform() or backend.zipf()"))
	}
	prefix := o.str("keyPrefix")
	usage, err := c.usageOf(o.get("usage"), nil)
	if err != nil {
		c.mi.throw(fmt.Errorf("authrepMany: %w", err))
	}
	conc, err := o.int("concurrency", 8)
	if err != nil || conc <= 0 || conc > 4096 {
		c.mi.throw(fmt.Errorf("authrepMany: concurrency: want 1..4096, got %s", o.str("concurrency")))
	}
	engine := o.str("engine")
	if engine == "" {
		engine = defaultEngine
	}
	if engine != "goroutines" && !(engine == "epoll" && epollSupported) {
		c.mi.throw(fmt.Errorf("authrepMany: engine: want 'goroutines' or, on Linux, 'epoll'; got %q", engine))
	}
	stream := ch.stream(state.VUIDGlobal)
	base := ch.reserve(uint64(count))
	b := batch{
		ctx: c.mi.vu.Context(), state: state, count: count, concurrency: int(min(conc, count)), usage: usage,
		key: func(dst []byte, i int64) []byte {
			dst = append(dst, prefix...)
			return strconv.AppendInt(dst, int64(ch.pick(stream, base+uint64(i))), 10)
		},
	}
	start := time.Now()
	var sum BatchSummary
	if engine == "epoll" {
		sum = c.batchEpoll(b)
	} else {
		sum = c.batchGoroutines(b)
	}
	sum.Engine = engine
	sum.Duration = float64(time.Since(start)) / float64(time.Millisecond)
	return &sum
}

// batchGoroutines runs a batch with one goroutine per connection, through
// the same pool as single calls.
func (c *Client) batchGoroutines(b batch) BatchSummary {
	var (
		next atomic.Int64
		mu   sync.Mutex
		sum  BatchSummary
		wg   sync.WaitGroup
	)
	for range b.concurrency {
		wg.Go(func() {
			var qbuf, bbuf, keyBuf []byte
			em := c.newEmitter()
			em.sumCounters = true
			var local BatchSummary
			for {
				i := next.Add(1) - 1
				if i >= b.count || b.ctx.Err() != nil {
					break
				}
				keyBuf = b.key(keyBuf[:0], i)
				r := c.doTransaction(b.ctx, "authrep", AppCredentials{UserKey: string(keyBuf)}, b.usage, &qbuf, &bbuf, em)
				if len(em.buf) >= flushEvery {
					em.flush(b.ctx, b.state)
				}
				local.record(r.Outcome, r.Error+r.Reason)
			}
			em.flush(b.ctx, b.state)
			mu.Lock()
			sum.merge(local)
			mu.Unlock()
		})
	}
	wg.Wait()
	return sum
}
