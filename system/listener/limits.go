package listener

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/perfrun/perfrun/system/apisonator"
)

// Limits bound what one client can make the listener hold: how long it may
// take to send a request, how long an answer may take, how long an idle
// keep-alive connection stays open, and how big headers and bodies may be.
// A zero field takes its default (DefaultLimits).
type Limits struct {
	// ReadHeaderTimeout bounds reading the request line and headers (a
	// slowloris client trickling headers is closed after it).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request, body included (a client
	// trickling a body is closed after it).
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the headers to the end of
	// the answer.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sent nothing for this
	// long.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; above it the
	// server answers 431 without calling a handler.
	MaxHeaderBytes int
	// MaxBody bounds the body of POST /transactions.xml; above it the answer
	// is 413 and nothing of the request is applied.
	MaxBody int64
	// MaxInternalBody bounds the body of an internal API request (413 above).
	MaxInternalBody int64
}

// DefaultLimits are the listener's limits when none are given.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       90 * time.Second,
	MaxHeaderBytes:    64 << 10,
	// Rack's own bound on a form body (Apisonator refuses more with a 400),
	// so nothing Apisonator would take is refused here.
	MaxBody:         apisonator.MaxQueryBytes,
	MaxInternalBody: 1 << 20,
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxBody <= 0 {
		l.MaxBody = d.MaxBody
	}
	if l.MaxInternalBody <= 0 {
		l.MaxInternalBody = d.MaxInternalBody
	}
	return l
}

// HTTPServer is an http.Server for h on addr with the server's limits.
func (s *Server) HTTPServer(addr string, h http.Handler) *http.Server {
	l := s.limits
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// BasicAuth is the internal API's HTTP basic authentication, as
// Apisonator's (Rack::Auth::Basic in front of /internal when
// CONFIG_INTERNAL_API_USER or CONFIG_INTERNAL_API_PASSWORD is set).
type BasicAuth struct {
	User, Password string
}

// Enabled is Apisonator's credentials_set?: a user or a password is set.
func (a BasicAuth) Enabled() bool { return a.User != "" || a.Password != "" }

// wrap answers 401 to a request without these credentials, as
// Rack::Auth::Basic does (a Basic challenge, an empty body).
func (a BasicAuth) wrap(h http.Handler) http.Handler {
	if !a.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		// Both compared in full, so the time taken does not say which part
		// was wrong.
		uok := subtle.ConstantTimeCompare([]byte(u), []byte(a.User))
		pok := subtle.ConstantTimeCompare([]byte(p), []byte(a.Password))
		if !ok || uok&pok != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm=""`)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// limitBody answers 413 at once to a request whose declared length is over
// max, and bounds the body of any other so that reading past max fails
// (handlers answer 413 to that: IsTooLarge).
func limitBody(max int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			tooLarge(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}

// IsTooLarge says whether err is a body read stopped at its bound.
func IsTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// tooLarge answers 413 in the request's own family: XML for the
// transactions, JSON for the internal API. Apisonator has no error of its
// own for it (its server refuses first), so no error code is invented: the
// body says what happened.
func tooLarge(w http.ResponseWriter, r *http.Request) {
	// The rest of the body is not read: the connection is closed after.
	w.Header().Set("Connection", "close")
	if len(r.URL.Path) >= len("/internal/") && r.URL.Path[:len("/internal/")] == "/internal/" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = w.Write([]byte(`{"status":"error","error":"request body too large"}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", xmlContentType)
	w.WriteHeader(http.StatusRequestEntityTooLarge)
}
