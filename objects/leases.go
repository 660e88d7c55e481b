package objects

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// LeaseSpan is one holder's hold of one Lease (coordination.k8s.io/v1):
// from when the watcher saw spec.holderIdentity become Holder to when it
// saw it change, the Lease deleted, or the watching stop (Open).
type LeaseSpan struct {
	Lease  string    `json:"lease"`
	Holder string    `json:"holder"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Open says Holder still held the Lease when watching stopped (or
	// when the spans were read): To is that moment.
	Open bool `json:"open,omitempty"`
	// Acquired is the Lease's spec.acquireTime for this holder.
	Acquired time.Time `json:"acquired,omitzero"`
}

// Leases is leases.json: every span of the run's namespace and its summary.
type Leases struct {
	Namespace string       `json:"namespace"`
	Spans     []LeaseSpan  `json:"spans"`
	Dropped   int          `json:"dropped,omitempty"`
	Summary   LeaseSummary `json:"summary"`
}

// LeaseSummary is who held how many Leases for how long.
type LeaseSummary struct {
	// Leases is how many Leases had a holder at some time.
	Leases int `json:"leases"`
	// From and To are the first span's start and the last span's end.
	From    time.Time       `json:"from,omitzero"`
	To      time.Time       `json:"to,omitzero"`
	Holders []HolderSummary `json:"holders,omitempty"`
}

// HolderSummary is one holder's share of the Leases: one pod, which
// Knative's leader election names by a different POD_UUID identity in
// each Lease (one elector per reconciler), client-go's by one.
type HolderSummary struct {
	// Holder is the first identity seen; Identities how many the pod used.
	Holder     string `json:"holder"`
	Identities int    `json:"identities"`
	// Pod is the pod part of the identities.
	Pod string `json:"pod"`
	// Leases is how many Leases it held at some time; AtEnd how many it
	// held when watching stopped, and Since since when it held all of
	// those (the latest start among them).
	Leases int       `json:"leases"`
	AtEnd  int       `json:"atEnd"`
	Since  time.Time `json:"since,omitzero"`
	// HeldSeconds is its lease-seconds: the spans' lengths added up.
	HeldSeconds float64   `json:"heldSeconds"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
}

// PodOf is the pod name in a holder identity: the part before the first
// '_' (a pod name has none), the whole identity otherwise.
func PodOf(holder string) string {
	pod, _, _ := strings.Cut(holder, "_")
	return pod
}

// Summarize sums spans up by holder pod: those holding the most Leases
// at the end first, then by lease-seconds.
func Summarize(spans []LeaseSpan) LeaseSummary {
	var s LeaseSummary
	leases := map[string]bool{}
	byHolder := map[string]*HolderSummary{}
	held := map[string]map[string]bool{}
	ids := map[string]map[string]bool{}
	for _, sp := range spans {
		leases[sp.Lease] = true
		if s.From.IsZero() || sp.From.Before(s.From) {
			s.From = sp.From
		}
		if sp.To.After(s.To) {
			s.To = sp.To
		}
		pod := PodOf(sp.Holder)
		h := byHolder[pod]
		if h == nil {
			h = &HolderSummary{Holder: sp.Holder, Pod: pod, First: sp.From, Last: sp.To}
			byHolder[pod] = h
			held[pod] = map[string]bool{}
			ids[pod] = map[string]bool{}
		}
		held[pod][sp.Lease] = true
		ids[pod][sp.Holder] = true
		h.HeldSeconds += sp.To.Sub(sp.From).Seconds()
		if sp.From.Before(h.First) {
			h.First = sp.From
		}
		if sp.To.After(h.Last) {
			h.Last = sp.To
		}
		if sp.Open {
			h.AtEnd++
			if sp.From.After(h.Since) {
				h.Since = sp.From
			}
		}
	}
	s.Leases = len(leases)
	for name, h := range byHolder {
		h.Leases = len(held[name])
		h.Identities = len(ids[name])
		h.HeldSeconds = math.Round(h.HeldSeconds*1e3) / 1e3
		s.Holders = append(s.Holders, *h)
	}
	slices.SortFunc(s.Holders, func(a, b HolderSummary) int {
		return cmp.Or(cmp.Compare(b.AtEnd, a.AtEnd), cmp.Compare(b.HeldSeconds, a.HeldSeconds), cmp.Compare(a.Pod, b.Pod))
	})
	return s
}

// Describe says in a line who held the Leases, times as offsets from
// origin (the load's start; the first span's when zero): "pod-a held 5/5
// leases from 12s to the end (48s); pod-b held 3/5 until 10s". At most
// three holders are named.
func (s LeaseSummary) Describe(origin time.Time) string {
	if len(s.Holders) == 0 {
		return "no lease had a holder"
	}
	if origin.IsZero() {
		origin = s.From
	}
	off := func(t time.Time) string { return t.Sub(origin).Round(time.Second).String() }
	var parts []string
	for i, h := range s.Holders {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more holder(s)", len(s.Holders)-3))
			break
		}
		if h.AtEnd > 0 {
			parts = append(parts, fmt.Sprintf("%s held %d/%d leases from %s to the end (%s)", h.Pod, h.AtEnd, s.Leases, off(h.Since), off(s.To)))
		} else {
			parts = append(parts, fmt.Sprintf("%s held %d/%d until %s", h.Pod, h.Leases, s.Leases, off(h.Last)))
		}
	}
	return strings.Join(parts, "; ")
}
