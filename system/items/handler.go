package items

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Prefix is where the handler's routes live; the listener mounts Handler()
// at this path without stripping it: mux.Handle(items.Prefix, store.Handler()).
const Prefix = "/internal/items/"

// maxBody bounds a request body; an item is a key.
const maxBody = 16 << 10

// ItemJSON is an item as the internal API shows it.
type ItemJSON struct {
	Key          string `json:"key"`
	CreatedAt    string `json:"created_at"`
	ReconciledAt string `json:"reconciled_at,omitempty"`
	ReconciledBy string `json:"reconciled_by,omitempty"`
	Bucket       string `json:"bucket,omitempty"`
	Reconciles   int64  `json:"reconciles"`
	// Reconcilers are the distinct pods that reconciled it (one, when its
	// bucket had one owner).
	Reconcilers []string `json:"reconcilers,omitempty"`
}

// JSON renders the item for the internal API (times RFC 3339 with
// nanoseconds, UTC; reconcile fields absent until reconciled).
func (it Item) JSON() ItemJSON {
	j := ItemJSON{
		Key:          it.Key,
		CreatedAt:    it.CreatedAt.UTC().Format(time.RFC3339Nano),
		ReconciledBy: it.ReconciledBy,
		Bucket:       it.Bucket,
		Reconciles:   it.Reconciles,
		Reconcilers:  it.Reconcilers,
	}
	if !it.ReconciledAt.IsZero() {
		j.ReconciledAt = it.ReconciledAt.UTC().Format(time.RFC3339Nano)
	}
	return j
}

type itemResponse struct {
	Status string   `json:"status"`
	Item   ItemJSON `json:"item"`
}

type errorResponse struct {
	Status string `json:"status,omitempty"`
	Error  string `json:"error"`
}

// Handler serves the internal API for items, mirroring the shape of
// Apisonator's internal API:
//
//	POST /internal/items/    {"item":{"key":"K"}} -> 201 {"status":"created","item":{...}}
//	                         or 200 {"status":"found","item":{...}} when it exists
//	GET  /internal/items/K   -> 200 {"status":"found","item":{...}}
//	                         or 404 {"status":"not_found","error":"item not found"}
//
// A key may contain slashes (namespace/name); in a GET it is the rest of
// the path, percent-decoded.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Prefix+"{$}", s.handleCreate)
	mux.HandleFunc("GET "+Prefix+"{key...}", s.handleGet)
	return mux
}

func (s *Store) handleCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Item *struct {
			Key *string `json:"key"`
		} `json:"item"`
	}
	// The whole body is read and decoded: one over the bound is refused, not
	// cut, and nothing may follow the object.
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorResponse{Status: "error", Error: "request body too large"})
		return
	}
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorResponse{Status: "error", Error: fmt.Sprintf("request body is not valid JSON: %v", err)})
		return
	}
	if body.Item == nil {
		// Apisonator's wording for a missing top-level object.
		writeJSON(w, http.StatusBadRequest, errorResponse{Status: "error", Error: "missing parameter 'item'"})
		return
	}
	if body.Item.Key == nil {
		writeJSON(w, http.StatusBadRequest, errorResponse{Status: "error", Error: "missing parameter 'item.key'"})
		return
	}
	if err := ValidateKey(*body.Item.Key); err != nil {
		writeJSON(w, http.StatusBadRequest, errorResponse{Status: "error", Error: err.Error()})
		return
	}
	it, created, err := s.Create(r.Context(), *body.Item.Key)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorResponse{Status: "error", Error: err.Error()})
		return
	}
	if created {
		writeJSON(w, http.StatusCreated, itemResponse{Status: "created", Item: it.JSON()})
		return
	}
	writeJSON(w, http.StatusOK, itemResponse{Status: "found", Item: it.JSON()})
}

func (s *Store) handleGet(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if key == "" {
		writeJSON(w, http.StatusNotFound, errorResponse{Status: "not_found", Error: "item not found"})
		return
	}
	it, err := s.Get(r.Context(), key)
	if errors.Is(err, ErrNotFound) {
		writeJSON(w, http.StatusNotFound, errorResponse{Status: "not_found", Error: "item not found"})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorResponse{Status: "error", Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, itemResponse{Status: "found", Item: it.JSON()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
