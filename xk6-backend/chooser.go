package backend

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"

	"github.com/grafana/sobek"
)

// Chooser picks application indexes in [0, n): uniformly, or Zipf-skewed
// (index 0 the most popular). It is seeded and stateless underneath: the
// i-th pick of a stream is a hash of (seed, stream, i), so two runs with the
// same seed send the same key sequence per VU whatever the timing, and
// pick(i) lets a script tie keys to the global iteration number instead.
type Chooser struct {
	kind string
	n    int
	seed uint64
	s    float64   // Zipf exponent
	cdf  []float64 // Zipf cumulative distribution, shared between VUs
	vu   func() (uint64, bool)
	seq  atomic.Uint64
}

// maxChooserN bounds the Zipf table (8 bytes an entry, shared per process).
const maxChooserN = 10_000_000

type zipfKey struct {
	n int
	s float64
}

func (mi *ModuleInstance) chooserOptions(call string, v sobek.Value) (*Chooser, error) {
	o := optionsOf(mi.vu.Runtime(), v)
	n, err := o.int("n", 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", call, err)
	}
	if n <= 0 || n > maxChooserN {
		return nil, fmt.Errorf("%s: n: want 1..%d applications, got %d", call, maxChooserN, n)
	}
	seed, err := o.int("seed", 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", call, err)
	}
	c := &Chooser{kind: call, n: int(n), seed: uint64(seed)}
	c.vu = func() (uint64, bool) {
		if st := mi.vu.State(); st != nil {
			return st.VUIDGlobal, true
		}
		return 0, false
	}
	return c, nil
}

// uniform is backend.uniform({n, seed}).
func (mi *ModuleInstance) uniform(v sobek.Value) *Chooser {
	c, err := mi.chooserOptions("uniform", v)
	if err != nil {
		mi.throw(err)
	}
	return c
}

// zipf is backend.zipf({n, s, seed}); s > 0, 1.0 by default (classic Zipf).
func (mi *ModuleInstance) zipf(v sobek.Value) *Chooser {
	c, err := mi.chooserOptions("zipf", v)
	if err != nil {
		mi.throw(err)
	}
	o := optionsOf(mi.vu.Runtime(), v)
	c.s = 1
	if sv := o.get("s"); sv != nil {
		c.s = sv.ToFloat()
	}
	if math.IsNaN(c.s) || c.s <= 0 || c.s > 10 {
		mi.throw(fmt.Errorf("zipf: s: want an exponent in (0, 10], got %s", o.str("s")))
	}
	key := zipfKey{c.n, c.s}
	if cdf, ok := mi.root.zipfs.Load(key); ok {
		c.cdf = cdf.([]float64)
	} else {
		cdf, _ := mi.root.zipfs.LoadOrStore(key, zipfCDF(c.n, c.s))
		c.cdf = cdf.([]float64)
	}
	return c
}

func zipfCDF(n int, s float64) []float64 {
	cdf := make([]float64, n)
	var sum float64
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	cdf[n-1] = 1
	return cdf
}

// splitmix64 is a fast, well-mixed 64-bit hash (Steele et al.).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (c *Chooser) stream(vu uint64) uint64 { return vu }

func (c *Chooser) reserve(n uint64) uint64 { return c.seq.Add(n) - n }

// pick returns the i-th index of a stream.
func (c *Chooser) pick(stream, i uint64) int {
	h := splitmix64(c.seed ^ splitmix64(stream^0x5851f42d4c957f2d) ^ splitmix64(i+0x14057b7ef767814f))
	u := float64(h>>11) / (1 << 53) // [0, 1)
	if c.cdf == nil {
		return int(u * float64(c.n))
	}
	return sort.SearchFloat64s(c.cdf, u)
}

// Next returns the next index of this VU's stream.
func (c *Chooser) Next() int {
	vu, _ := c.vu()
	return c.pick(c.stream(vu), c.reserve(1))
}

// Pick returns the index for position i, the same in every VU and run
// (e.g. pick(exec.scenario.iterationInTest)).
func (c *Chooser) Pick(i int64) (int, error) {
	if i < 0 {
		return 0, errors.New("pick: i must be non-negative")
	}
	return c.pick(math.MaxUint64, uint64(i)), nil
}

// N is the number of applications chosen from.
func (c *Chooser) N() int { return c.n }

func exportChooser(v sobek.Value) (*Chooser, bool) {
	if v == nil {
		return nil, false
	}
	c, ok := v.Export().(*Chooser)
	return c, ok
}
