package sharding

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
)

// refFNV1a64 is FNV-1a 64 written out from its definition (offset basis
// 14695981039346656037, prime 1099511628211: xor the byte, then multiply),
// independent of hash/fnv.
func refFNV1a64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// refChooseSubset is a deliberately plain rendering of knative's published
// algorithm: sort the candidate names; place each at fnv(name+target) mod
// 2048, re-hashing name+target+hex(previous hashes...) while the point is
// taken; start at fnv(target+"start-angle-salt") mod 2048 and step by
// fnv(target+"step-angle-salt") mod 2048; at each angle pick the lowest free
// point >= angle in circle order (wrapping), skipping chosen ones.
func refChooseSubset(from []string, n int, target string) []string {
	names := append([]string(nil), from...)
	sort.Strings(names)
	names = slices.Compact(names)
	if n >= len(names) {
		return names
	}
	type point struct {
		at   uint64
		name string
	}
	var pts []point
	taken := func(at uint64) bool {
		for _, p := range pts {
			if p.at == at {
				return true
			}
		}
		return false
	}
	for _, name := range names {
		s := name + target
		h := refFNV1a64(s)
		for taken(h % 2048) {
			s += fmt.Sprintf("%x", h)
			h = refFNV1a64(s)
		}
		pts = append(pts, point{h % 2048, name})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].at < pts[j].at })
	angle := refFNV1a64(target+"start-angle-salt") % 2048
	step := refFNV1a64(target+"step-angle-salt") % 2048
	chosen := map[int]bool{}
	for len(chosen) < n {
		idx := 0 // wraps to the first point when none is >= angle
		for i, p := range pts {
			if p.at >= angle {
				idx = i
				break
			}
		}
		for chosen[idx] {
			idx = (idx + 1) % len(pts)
		}
		chosen[idx] = true
		angle = (angle + step) % 2048
	}
	var out []string
	for i := range chosen {
		out = append(out, pts[i].name)
	}
	sort.Strings(out)
	return out
}

func TestFNVMatchesReference(t *testing.T) {
	// Published FNV-1a 64 test values.
	for in, want := range map[string]uint64{
		"":       0xcbf29ce484222325,
		"a":      0xaf63dc4c8601ec8c,
		"foobar": 0x85944171f73967e8,
	} {
		if got := fnv64a(in); got != want {
			t.Errorf("fnv64a(%q) = %#x, want %#x", in, got, want)
		}
		if got := refFNV1a64(in); got != want {
			t.Errorf("refFNV1a64(%q) = %#x, want %#x", in, got, want)
		}
	}
	if got, want := fnv64a("ab", "c"), refFNV1a64("abc"); got != want {
		t.Errorf("fnv64a in pieces = %#x, want %#x", got, want)
	}
}

// Literal vectors from knative/pkg's own tests (hash/hash_test.go,
// hash/bucketer_test.go).
func TestChooseSubsetKnativeVectors(t *testing.T) {
	planets := []string{"sun", "moon", "mars", "mercury"}
	for _, tc := range []struct {
		target string
		n      int
		want   []string
	}{
		{"a target!", 4, []string{"mars", "mercury", "moon", "sun"}},
		{"a target!", 2, []string{"mercury", "moon"}},
		{"something else entirely", 2, []string{"mars", "mercury"}},
		{"something else entirely", 3, []string{"mars", "mercury", "sun"}},
	} {
		if got := ChooseSubset(planets, tc.n, tc.target); !slices.Equal(got, tc.want) {
			t.Errorf("ChooseSubset(planets, %d, %q) = %v, want %v", tc.n, tc.target, got, tc.want)
		}
		if got := refChooseSubset(planets, tc.n, tc.target); !slices.Equal(got, tc.want) {
			t.Errorf("reference(planets, %d, %q) = %v, want %v", tc.n, tc.target, got, tc.want)
		}
	}

	bs := NewBucketSet([]string{"monsoon", "chubasco", "aguacero", "chaparrón"})
	for key, want := range map[string]string{
		"hagel":     "monsoon",
		"snow":      "chubasco",
		"snow/hail": "monsoon", // types.NamespacedName{Namespace: "snow", Name: "hail"}.String()
	} {
		if got := bs.Owner(key); got != want {
			t.Errorf("Owner(%q) = %q, want %q", key, got, want)
		}
	}
	// Removing a bucket moves only its keys.
	smaller := NewBucketSet([]string{"monsoon", "aguacero", "chaparrón"})
	if got := smaller.Owner("hagel"); got != "monsoon" {
		t.Errorf("after removing chubasco, Owner(hagel) = %q, want monsoon", got)
	}
	if got := smaller.Owner("snow"); got == "chubasco" {
		t.Errorf("after removing chubasco, Owner(snow) still chubasco")
	}
}

func TestCollisionHandling(t *testing.T) {
	// Two names that land on the same point for this target (from knative's
	// TestCollisionHandling).
	const (
		key1   = "b08006d4-81f9-42ee-808b-ea18a39cbd83"
		key2   = "c9dc8df4-8c8d-4077-8750-6d2c2113a23b"
		target = "e68a64e1-19d8-4855-9ffa-04f49223a059"
	)
	if a, b := refFNV1a64(key1+target)%2048, refFNV1a64(key2+target)%2048; a != b {
		t.Fatalf("baseline: %d != %d, the names should collide", a, b)
	}
	r := buildRing([]string{key1, key2}, target)
	if len(r.names) != 2 || r.points[0] == r.points[1] {
		t.Fatalf("collision not resolved: points %v", r.points)
	}
	// The later name in sorted order is the one re-hashed.
	h1 := refFNV1a64(key1 + target)
	h2 := refFNV1a64(key2 + target)
	moved := int(refFNV1a64(key2+target+fmt.Sprintf("%x", h2)) % 2048)
	if r.names[int(h1%2048)] != key1 || r.names[moved] != key2 {
		t.Errorf("points = %v (%v), want %s at %d and %s at %d", r.points, r.names, key1, h1%2048, key2, moved)
	}
	for n := 1; n <= 2; n++ {
		if got, want := ChooseSubset([]string{key2, key1}, n, target), refChooseSubset([]string{key1, key2}, n, target); !slices.Equal(got, want) {
			t.Errorf("n=%d: got %v, reference %v", n, got, want)
		}
	}
}

func TestChooseSubsetMatchesReference(t *testing.T) {
	for _, nb := range []int{2, 3, 5, 10} {
		var names []string
		for i := range nb {
			names = append(names, BucketName("perfrun-controller", "items", i, nb))
		}
		bs := NewBucketSet(names)
		for k := range 2000 {
			key := fmt.Sprintf("ns-%d/item-%d", k%7, k)
			want := refChooseSubset(names, 1, key)
			if got := bs.Owner(key); got != want[0] {
				t.Fatalf("buckets=%d Owner(%q) = %q, reference %q", nb, key, got, want[0])
			}
			if nb > 2 && k%10 == 0 {
				n := 1 + k%(nb-1)
				if got, want := ChooseSubset(names, n, key), refChooseSubset(names, n, key); !slices.Equal(got, want) {
					t.Fatalf("ChooseSubset(%d of %d, %q) = %v, reference %v", n, nb, key, got, want)
				}
			}
		}
	}
}

func TestOrderDoesNotMatter(t *testing.T) {
	a := NewBucketSet([]string{"x", "y", "z", "y"})
	b := NewBucketSet([]string{"z", "x", "y"})
	for k := range 500 {
		key := fmt.Sprint("key-", k)
		if a.Owner(key) != b.Owner(key) {
			t.Fatalf("Owner(%q) depends on input order", key)
		}
	}
}

func TestDistributionIsEven(t *testing.T) {
	ss, _ := StatefulSetNaming{SetName: "controller", Service: "controller", Protocol: "http", Port: "80",
		Namespace: "perfrun-controller-kill-1a2b3c", ClusterDomain: "cluster.local"}.Buckets(0, 3)
	for _, bs := range []*BucketSet{NewStandardBucketSet("perfrun-controller", "items", 3), NewBucketSet(ss)} {
		distributionIsEven(t, bs)
	}
}

func distributionIsEven(t *testing.T, bs *BucketSet) {
	const keys = 30000
	counts := map[string]int{}
	for k := range keys {
		counts[bs.Owner(fmt.Sprintf("item-%06d", k))]++
	}
	if len(counts) != 3 {
		t.Fatalf("keys landed in %d buckets, want 3: %v", len(counts), counts)
	}
	for name, c := range counts {
		// Expected 10000 each; the standard deviation is about 82.
		if c < 9500 || c > 10500 {
			t.Errorf("bucket %s got %d of %d keys, want within 5%% of %d (all: %v)", name, c, keys, keys/3, counts)
		}
	}
}

func TestBucketName(t *testing.T) {
	if got, want := BucketName("Perfrun-Controller", "items", 2, 3), "perfrun-controller.items.02-of-03"; got != want {
		t.Errorf("BucketName = %q, want %q", got, want)
	}
	bs := NewStandardBucketSet("c", "q", 3)
	if got, want := bs.Names(), []string{"c.q.00-of-03", "c.q.01-of-03", "c.q.02-of-03"}; !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	if !bs.Has("c.q.01-of-03") || bs.Has("c.q.03-of-03") {
		t.Errorf("Has is wrong")
	}
	if got := NewBucketSet([]string{"only"}).Owner("k"); got != "only" {
		t.Errorf("single bucket Owner = %q", got)
	}
}

func TestParseOrdinal(t *testing.T) {
	for in, want := range map[string]int{"controller-0": 0, "controller-2": 2, "tekton-pipelines-controller-11": 11} {
		got, err := ParseOrdinal(in)
		if err != nil || got != want {
			t.Errorf("ParseOrdinal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "controller", "controller-", "controller-x", "controller-+1", "controller-1.5"} {
		if _, err := ParseOrdinal(in); err == nil {
			t.Errorf("ParseOrdinal(%q) succeeded, want an error", in)
		}
	}
}

func BenchmarkOwner(b *testing.B) {
	bs := NewStandardBucketSet("perfrun-controller", "items", 3)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("item-", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bs.Owner(keys[i%len(keys)])
	}
}

// knativeVectors: which pod ordinal owns each key under knative.dev/pkg's
// StatefulSet elector, printed by running knative's own
// leaderelection.NewStatefulSetBucketAndSet and BucketSet.Owner
// (knative.dev/pkg v0.0.0-20250415155312-ed3e2158b883, the version Tekton
// v1.6.0 pins) with STATEFUL_CONTROLLER_ORDINAL=SET-N, STATEFUL_SERVICE_NAME,
// SYSTEM_NAMESPACE and CLUSTER_DOMAIN=cluster.local set, protocol and port
// left at their defaults (http, 80).
var knativeVectors = []struct {
	set, service, namespace string
	replicas                int
	owner                   map[string]int
}{
	{"tekton-pipelines-controller", "tekton-pipelines-controller", "tekton-pipelines", 2, map[string]int{"default/pipeline-run-1": 0, "default/taskrun-a": 1, "tekton-pipelines/build-42": 1, "ns-3/item-17": 0, "item-run1-0": 0, "item-run1-1": 0, "item-run1-2": 1, "item-run1-3": 1, "item-run1-4": 1, "item-run1-5": 0}},
	{"tekton-pipelines-controller", "tekton-pipelines-controller", "tekton-pipelines", 3, map[string]int{"default/pipeline-run-1": 0, "default/taskrun-a": 1, "tekton-pipelines/build-42": 1, "ns-3/item-17": 0, "item-run1-0": 0, "item-run1-1": 0, "item-run1-2": 2, "item-run1-3": 1, "item-run1-4": 1, "item-run1-5": 0}},
	{"tekton-pipelines-controller", "tekton-pipelines-controller", "tekton-pipelines", 5, map[string]int{"default/pipeline-run-1": 0, "default/taskrun-a": 3, "tekton-pipelines/build-42": 1, "ns-3/item-17": 0, "item-run1-0": 0, "item-run1-1": 3, "item-run1-2": 2, "item-run1-3": 1, "item-run1-4": 3, "item-run1-5": 3}},
	// Past 10 replicas the ordinal-th sorted name is another pod's:
	// ordinal 2 owns the bucket named ...-10.
	{"tekton-pipelines-controller", "tekton-pipelines-controller", "tekton-pipelines", 11, map[string]int{"default/pipeline-run-1": 2, "default/taskrun-a": 4, "tekton-pipelines/build-42": 7, "ns-3/item-17": 2, "item-run1-0": 7, "item-run1-1": 4, "item-run1-2": 6, "item-run1-3": 6, "item-run1-4": 10, "item-run1-5": 7}},
	// perfrun's fixtures: StatefulSet and Service controller.
	{"controller", "controller", "perfrun-test", 2, map[string]int{"default/pipeline-run-1": 0, "default/taskrun-a": 1, "tekton-pipelines/build-42": 0, "ns-3/item-17": 1, "item-run1-0": 0, "item-run1-1": 1, "item-run1-2": 0, "item-run1-3": 1, "item-run1-4": 1, "item-run1-5": 1}},
	{"controller", "controller", "perfrun-test", 3, map[string]int{"default/pipeline-run-1": 0, "default/taskrun-a": 1, "tekton-pipelines/build-42": 0, "ns-3/item-17": 1, "item-run1-0": 0, "item-run1-1": 1, "item-run1-2": 0, "item-run1-3": 2, "item-run1-4": 1, "item-run1-5": 2}},
	{"controller", "controller", "perfrun-test", 5, map[string]int{"default/pipeline-run-1": 0, "default/taskrun-a": 4, "tekton-pipelines/build-42": 0, "ns-3/item-17": 1, "item-run1-0": 0, "item-run1-1": 1, "item-run1-2": 0, "item-run1-3": 4, "item-run1-4": 1, "item-run1-5": 4}},
	{"controller", "controller", "perfrun-test", 11, map[string]int{"default/pipeline-run-1": 9, "default/taskrun-a": 5, "tekton-pipelines/build-42": 0, "ns-3/item-17": 6, "item-run1-0": 9, "item-run1-1": 9, "item-run1-2": 2, "item-run1-3": 2, "item-run1-4": 7, "item-run1-5": 5}},
}

// A key lands on the pod ordinal knative's StatefulSet elector gives it:
// the same bucket names (knative's documented format), the same owned
// bucket per ordinal (the ordinal-th sorted name), the same owner.
func TestStatefulSetOrdinalAgreesWithKnative(t *testing.T) {
	for _, v := range knativeVectors {
		n := StatefulSetNaming{SetName: v.set, Service: v.service, Protocol: "http", Port: "80", Namespace: v.namespace, ClusterDomain: "cluster.local"}
		// The format written out here from knative's documentation, apart
		// from BucketName.
		if got, want := n.BucketName(3), fmt.Sprintf("http://%s-3.%s.%s.svc.cluster.local:80", v.set, v.service, v.namespace); got != want {
			t.Fatalf("BucketName(3) = %q, want %q", got, want)
		}
		ordinalOf := map[string]int{}
		var names []string
		for o := range v.replicas {
			var own string
			names, own = n.Buckets(o, v.replicas)
			ordinalOf[own] = o
		}
		if len(ordinalOf) != v.replicas {
			t.Fatalf("%s ×%d: %d distinct owned buckets, want one per pod", v.set, v.replicas, len(ordinalOf))
		}
		bs := NewBucketSet(names)
		for key, want := range v.owner {
			if got := ordinalOf[bs.Owner(key)]; got != want {
				t.Errorf("%s ×%d: %q on ordinal %d, knative puts it on %d", v.set, v.replicas, key, got, want)
			}
			if ref := refChooseSubset(names, 1, key); ordinalOf[ref[0]] != want {
				t.Errorf("%s ×%d: reference puts %q on %d, knative on %d", v.set, v.replicas, key, ordinalOf[ref[0]], want)
			}
		}
	}
}

// The cluster domain as knative finds it.
func TestClusterDomain(t *testing.T) {
	dir := t.TempDir()
	resolv := dir + "/resolv.conf"
	if err := os.WriteFile(resolv, []byte("nameserver 10.0.0.10\nsearch ns.svc.example.org svc.example.org example.org\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	none := func(string) string { return "" }
	env := func(k string) string {
		if k == "CLUSTER_DOMAIN" {
			return "override.local"
		}
		return ""
	}
	for _, tc := range []struct {
		path   string
		getenv func(string) string
		want   string
	}{
		{resolv, none, "example.org"},
		{resolv, env, "override.local"},
		{dir + "/missing", env, "cluster.local"}, // knative reads the variable only once the file opened
	} {
		if got := ClusterDomain(tc.path, tc.getenv); got != tc.want {
			t.Errorf("ClusterDomain(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestParseStatefulSetID(t *testing.T) {
	set, n, err := ParseStatefulSetID("tekton-pipelines-controller-11")
	if err != nil || set != "tekton-pipelines-controller" || n != 11 {
		t.Errorf("got %q %d %v", set, n, err)
	}
}
