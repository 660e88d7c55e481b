// Package ops is what every program of the reference system serves for
// operations: /metrics, /healthz (the process answers) and /readyz (it is
// taking work), on a registry that already carries the Go and process
// collectors. One place, so the four programs answer probes and scrapes the
// same way.
package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Register adds /metrics, /healthz and /readyz to mux. ready, when not nil,
// is asked by /readyz: an error is a 503 with its text. Metrics use the
// classic text format so counter names stay as declared (OpenMetrics would
// add _total to them).
func Register(mux *http.ServeMux, g prometheus.Gatherer, ready func() error) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}

// Handler is a mux with only the operations endpoints.
func Handler(g prometheus.Gatherer, ready func() error) http.Handler {
	mux := http.NewServeMux()
	Register(mux, g, ready)
	return mux
}

// Server serves a handler on an address until Stop.
type Server struct {
	Addr string // the address actually bound (":0" resolved)
	srv  *http.Server
}

// Serve listens on addr and serves h in the background. A listen error is
// returned at once, naming the flag the caller passes as what.
func Serve(addr, what string, h http.Handler, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	s := &Server{Addr: ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.Error("serving", "addr", s.Addr, "err", err)
		}
	}()
	return s, nil
}

// Stop shuts the server down, waiting at most a second for open requests.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// ReadyFunc adapts a boolean readiness to Register's form.
func ReadyFunc(ready func() bool, why string) func() error {
	return func() error {
		if !ready() {
			return errors.New(why)
		}
		return nil
	}
}
