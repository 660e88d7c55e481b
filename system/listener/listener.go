// Package listener is the reference system's HTTP front: the Apisonator
// transactions API, the internal provisioning API, health, readiness and
// Prometheus metrics. One process serves on all of one core; scale is pods.
package listener

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/perfrun/perfrun/system/apisonator"
	"github.com/perfrun/perfrun/system/ops"
	"github.com/prometheus/client_golang/prometheus"
)

// Version is reported by /status.
const Version = "3.0.0-perfrun"

// Metrics are the listener's Prometheus metrics, with Apisonator's names.
type Metrics struct {
	ResponseCodes *prometheus.CounterVec
	ResponseTimes *prometheus.HistogramVec
}

// NewMetrics registers the listener's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ResponseCodes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apisonator_listener_response_codes",
			Help: "Response codes",
		}, []string{"request_type", "resp_code"}),
		ResponseTimes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apisonator_listener_response_times_seconds",
			Help: "Response times",
			// Apisonator's buckets: most requests are under 100ms.
			Buckets: []float64{0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.25, 0.5, 0.75, 1},
			// Native histograms too, for Prometheus servers that take them.
			NativeHistogramBucketFactor: 1.1,
		}, []string{"request_type"}),
	}
	// The successes of every call start at 0, so that a listener that never
	// answered one shows 0 rather than no series: a throughput query must be
	// able to tell "none served" from "not scraped".
	// So does every call's latency histogram: a rate over it then has a
	// sample from before the first request, and the latency plot starts
	// with the load's first scrape rather than a scrape after it.
	for _, c := range calls {
		m.ResponseCodes.WithLabelValues(c.name, "2xx")
		m.ResponseTimes.WithLabelValues(c.name)
	}
	reg.MustRegister(m.ResponseCodes, m.ResponseTimes)
	return m
}

// calls are the transaction endpoints: their routes and the request_type
// their metrics carry (Apisonator's ListenerMetrics names: the OAuth calls
// are authorize_oauth and authrep_oauth). NewMetrics and Handler both read
// this table, so a call added here is routed and has its 2xx series
// started at 0.
var calls = []struct {
	pattern, name string
	handler       func(*Server, http.ResponseWriter, *http.Request)
}{
	{"GET /transactions/authrep.xml", "authrep", (*Server).authrep},
	{"GET /transactions/authorize.xml", "authorize", (*Server).authorize},
	{"GET /transactions/oauth_authrep.xml", "authrep_oauth", (*Server).oauthAuthrep},
	{"GET /transactions/oauth_authorize.xml", "authorize_oauth", (*Server).oauthAuthorize},
	{"POST /transactions.xml", "report", (*Server).report},
}

// codeGroup is Apisonator's code_group: 2xx, 403/404/409 as themselves,
// other 4xx, 5xx.
func codeGroup(code int) string {
	switch {
	case code >= 200 && code < 300:
		return "2xx"
	case code == 403 || code == 404 || code == 409:
		return strconv.Itoa(code)
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500 && code < 600:
		return "5xx"
	}
	return "unknown"
}

// Server is the listener's HTTP handler.
type Server struct {
	tx         *apisonator.Transactor
	metrics    *Metrics
	log        *slog.Logger
	readyState atomic.Bool
	// Internal is mounted under /internal/ (provisioning and items).
	internal http.Handler
	// gatherer backs /metrics.
	gatherer prometheus.Gatherer
	// Ready reports extra readiness conditions (CPU saturation).
	readyCheck func() error
	limits     Limits
	basicAuth  BasicAuth
	// internalApart: /internal/ is served by InternalHandler only.
	internalApart bool
	// one is the sync mode's semaphore (nil: requests run concurrently).
	one chan struct{}
}

// Options configure a Server.
type Options struct {
	Transactor *apisonator.Transactor
	Metrics    *Metrics
	Gatherer   prometheus.Gatherer // for /metrics; nil serves none
	Internal   http.Handler
	Logger     *slog.Logger
	// ReadyCheck, when set, is consulted by /readyz.
	ReadyCheck func() error
	// Limits bound requests (zero fields: DefaultLimits).
	Limits Limits
	// InternalAuth, when a user or password is set, guards /internal/ with
	// HTTP basic authentication.
	InternalAuth BasicAuth
	// InternalApart leaves /internal/ out of Handler: InternalHandler serves
	// it, on its own address.
	InternalApart bool
	// Sync serves one request at a time per process, each waiting on its
	// Redis round trips before the next starts, as Apisonator's listener
	// did on a single-threaded Puma: the known-bad mode of perfrun's
	// core-utilization pair (a process that cannot keep its core busy).
	// Probes and /metrics are not held: the kubelet and Prometheus still
	// see the process, so what the mode shows is its CPU, not a restart.
	Sync bool
}

// New returns a Server; it is ready until SetReady(false).
func New(o Options) *Server {
	s := &Server{tx: o.Transactor, metrics: o.Metrics, internal: o.Internal, gatherer: o.Gatherer, log: o.Logger, readyCheck: o.ReadyCheck,
		limits: o.Limits.withDefaults(), basicAuth: o.InternalAuth, internalApart: o.InternalApart}
	if o.Sync {
		s.one = make(chan struct{}, 1)
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.readyState.Store(true)
	return s
}

// SetReady flips readiness (false while shutting down).
func (s *Server) SetReady(v bool) { s.readyState.Store(v) }

// Handler returns the routes: /metrics, /healthz and /readyz, and
// everything else through serial.
func (s *Server) Handler() http.Handler {
	g := s.gatherer
	if g == nil {
		g = prometheus.NewRegistry()
	}
	outer := http.NewServeMux()
	ops.Register(outer, g, s.ready)
	outer.Handle("/", s.serial(s.api()))
	return outer
}

// api is the routes that do the listener's work (transactions, status,
// internal API).
func (s *Server) api() http.Handler {
	mux := http.NewServeMux()
	for _, c := range calls {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.handler(s, w, r) })
		if c.name == "report" {
			h = limitBody(s.limits.MaxBody, h)
		}
		mux.Handle(c.pattern, s.timed(c.name, h.ServeHTTP))
	}
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /available", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /check.txt", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	})
	if s.internal != nil && !s.internalApart {
		mux.Handle("/internal/", s.internalRoutes())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", xmlContentType)
		w.WriteHeader(http.StatusNotFound)
	})
	return mux
}

// InternalHandler serves only /internal/ (with its authentication and body
// bound), for an address of its own (Options.InternalApart).
func (s *Server) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	if s.internal != nil {
		mux.Handle("/internal/", s.internalRoutes())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"status":"not_found","error":"Not found"}`+"\n")
	})
	return s.serial(mux)
}

// serial, in sync mode, lets one request at a time into h, its answer
// written out before the next: the others wait their turn (or until their
// client goes away), as requests wait in a single-threaded server's queue
// (reading and parsing the next request is not held, as Puma's reactor
// buffers requests beside its thread). The wait is not in the
// response-time metric, as Puma's queue is not in Apisonator's (measured
// by its Rack middleware). Outside sync mode h is returned as it is.
func (s *Server) serial(h http.Handler) http.Handler {
	if s.one == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.one <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-s.one }()
		// The answer is written out before the next request starts, as
		// a single-threaded server's one thread writes it itself (else
		// net/http would flush it after the handler returns, beside the
		// next request's Redis wait). It is held whole first, so that it
		// keeps its Content-Length rather than going out chunked.
		hw := &heldWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(hw, r)
		hw.send(r)
	})
}

// heldWriter keeps a sync-mode answer until the handler is done.
type heldWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
	body        []byte
}

func (w *heldWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
}

func (w *heldWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	w.body = append(w.body, b...)
	return len(b), nil
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *heldWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *heldWriter) send(r *http.Request) {
	if len(w.body) > 0 && w.Header().Get("Content-Length") == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(w.body)))
	}
	w.ResponseWriter.WriteHeader(w.code)
	if r.Method != http.MethodHead {
		_, _ = w.ResponseWriter.Write(w.body)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// internalRoutes is the internal API behind its authentication (checked
// before the body is read) and its body bound.
func (s *Server) internalRoutes() http.Handler {
	return s.basicAuth.wrap(limitBody(s.limits.MaxInternalBody, s.internal))
}

const xmlContentType = "application/vnd.3scale-v2.0+xml"

// ready is /readyz: false while shutting down or while ReadyCheck fails.
func (s *Server) ready() error {
	if !s.readyState.Load() {
		return errors.New("shutting down")
	}
	if s.readyCheck != nil {
		return s.readyCheck()
	}
	return nil
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "version": map[string]string{"backend": Version}})
}

// statusWriter remembers the code written, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) {
	w.code = c
	w.ResponseWriter.WriteHeader(c)
}

func (s *Server) timed(requestType string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: 200}
		h(sw, r)
		if s.metrics != nil {
			s.metrics.ResponseCodes.WithLabelValues(requestType, codeGroup(sw.code)).Inc()
			s.metrics.ResponseTimes.WithLabelValues(requestType).Observe(time.Since(start).Seconds())
		}
	})
}

func (s *Server) authrep(w http.ResponseWriter, r *http.Request) {
	s.auth(w, r, apisonator.Authrep)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	s.auth(w, r, apisonator.Authorize)
}

func (s *Server) oauthAuthrep(w http.ResponseWriter, r *http.Request) {
	s.auth(w, r, apisonator.OAuthAuthrep)
}

func (s *Server) oauthAuthorize(w http.ResponseWriter, r *http.Request) {
	s.auth(w, r, apisonator.OAuthAuthorize)
}

func (s *Server) auth(w http.ResponseWriter, r *http.Request, mode apisonator.Mode) {
	w.Header().Set("Content-Type", xmlContentType)
	p, perr := apisonator.ParseAuthParams(r.URL.RawQuery)
	if perr == nil {
		p.Ext, perr = apisonator.ParseExtensions(r.Header.Get(optionsHeader), p.NoBodyParam)
	}
	if perr != nil {
		s.writeError(w, perr)
		return
	}
	st, err := s.tx.Authorize(r.Context(), p, mode)
	if err != nil {
		s.fail(w, r, err, p.Ext.NoBody)
		return
	}
	if !st.Authorized && p.Ext.RejectionReasonHeader {
		w.Header().Set("3scale-rejection-reason", st.Reason.Code)
	}
	if st.Limits != nil {
		for _, h := range st.Limits.Headers() {
			w.Header().Set(h[0], h[1])
		}
	}
	w.WriteHeader(st.HTTPStatus())
	if !p.Ext.NoBody {
		_, _ = w.Write(st.XML())
	}
}

// optionsHeader carries Apisonator's extensions (docs/extensions.md).
const optionsHeader = "3scale-options"

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", xmlContentType)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt := ct
		if i := indexByte(ct, ';'); i >= 0 {
			mt = ct[:i]
		}
		if mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
			s.writeError(w, apisonator.ErrContentTypeInvalid(mt))
			return
		}
	}
	// The whole body or nothing: a body over the bound is refused (413)
	// before any of it is parsed, never cut and applied in part.
	body, err := io.ReadAll(r.Body)
	if IsTooLarge(err) {
		tooLarge(w, r)
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The client did not send its body within the read timeout.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestTimeout)
		return
	}
	if err != nil {
		s.writeError(w, apisonator.ErrBadRequest())
		return
	}
	p, perr := apisonator.ParseReportParams(string(body))
	if perr == nil {
		// no_body matters to an error's answer only: from the header, or
		// the URL's query (Rack's query hash, which the exception catcher
		// reads).
		var noBody *string
		if v, ok := r.URL.Query()["no_body"]; ok && len(v) > 0 {
			noBody = &v[len(v)-1]
		}
		p.Ext, perr = apisonator.ParseExtensions(r.Header.Get(optionsHeader), noBody)
	}
	if perr != nil {
		s.writeError(w, perr)
		return
	}
	if _, err := s.tx.Report(r.Context(), p); err != nil {
		s.fail(w, r, err, p.Ext.NoBody)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// fail answers a failed call. An Apisonator error is written as its XML,
// or with its status alone under no_body (the exception catcher's
// prepare_body); any other error is a 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, noBody bool) {
	var ae *apisonator.Error
	if errors.As(err, &ae) {
		if noBody {
			w.WriteHeader(ae.Status)
			return
		}
		s.writeError(w, ae)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	s.log.Error("request failed", "path", r.URL.Path, "err", err)
	w.WriteHeader(http.StatusInternalServerError)
}

func (s *Server) writeError(w http.ResponseWriter, e *apisonator.Error) {
	w.WriteHeader(e.Status)
	if e.Code != "" {
		_, _ = w.Write(e.XML())
	}
}
