// Package sharding decides which bucket owns a key, exactly as knative/pkg's
// hash.ChooseSubset and hash.BucketSet do, so that perfrun's controller splits
// keys over replicas the way knative and Tekton controllers split them.
//
// The algorithm (knative.dev/pkg/hash): every candidate bucket name is hashed
// with FNV-1a 64 together with the key onto a circle of 2048 points; the key
// gets a start angle and a step angle (FNV-1a 64 of the key with a salt);
// walking from the start angle, the first bucket point at or after it (wrapping
// around) is chosen; for subsets larger than one the angle advances by the step
// and already chosen points are skipped. Two buckets landing on the same point
// are separated by re-hashing the later one (in sorted name order) with its own
// previous hash appended as hex.
package sharding

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
	"strconv"
	"strings"
)

const (
	startSalt = "start-angle-salt"
	stepSalt  = "step-angle-salt"

	// universe is the number of points on the circle. It is a power of two so
	// that it divides the 64-bit hash range evenly (no modulo bias).
	universe = 1 << 11
)

func fnv64a(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
	}
	return h.Sum64()
}

// ring is the circle built for one target key.
type ring struct {
	points []int          // sorted points of the candidates
	names  map[int]string // point -> candidate name
	start  int
	step   int
}

func buildRing(from []string, target string) ring {
	r := ring{
		points: make([]int, 0, len(from)),
		names:  make(map[int]string, len(from)),
		start:  int(fnv64a(target, startSalt) % universe),
		step:   int(fnv64a(target, stepSalt) % universe),
	}
	for _, name := range from {
		buf := name + target
		h := fnv64a(buf)
		p := int(h % universe)
		// A collision happens with probability about 1/universe per pair;
		// knative resolves it by feeding the previous hash back as salt.
		for {
			if _, taken := r.names[p]; !taken {
				break
			}
			buf += strconv.FormatUint(h, 16)
			h = fnv64a(buf)
			p = int(h % universe)
		}
		r.points = append(r.points, p)
		r.names[p] = name
	}
	slices.Sort(r.points)
	return r
}

// sortedSet returns the distinct names in sorted order: knative takes a set
// and lists it sorted, which makes collision handling independent of the
// order the caller gives.
func sortedSet(from []string) []string {
	s := slices.Clone(from)
	slices.Sort(s)
	return slices.Compact(s)
}

// ChooseSubset consistently chooses n names out of from, seeded by target, as
// knative.dev/pkg/hash.ChooseSubset does. The result is sorted. When n is at
// least the number of distinct names, all of them are returned.
func ChooseSubset(from []string, n int, target string) []string {
	names := sortedSet(from)
	if n >= len(names) {
		return names
	}
	if n <= 0 {
		return nil
	}
	r := buildRing(names, target)
	chosen := make(map[int]bool, n)
	angle := r.start
	for len(chosen) < n {
		i, _ := slices.BinarySearch(r.points, angle) // first point >= angle
		if i == len(r.points) {
			i = 0
		}
		for chosen[i] {
			i = (i + 1) % len(r.points)
		}
		chosen[i] = true
		angle = (angle + r.step) % universe
	}
	out := make([]string, 0, n)
	for i := range chosen {
		out = append(out, r.names[r.points[i]])
	}
	slices.Sort(out)
	return out
}

// BucketName is the name knative gives bucket ordinal of total for a
// component's queue (leaderelection.standardBucketName), e.g.
// "perfrun-controller.items.00-of-03". Lease names are bucket names.
func BucketName(component, queue string, ordinal, total int) string {
	return strings.ToLower(fmt.Sprintf("%s.%s.%02d-of-%02d", component, queue, ordinal, total))
}

// StatefulSetNaming is what knative.dev/pkg's StatefulSet elector builds its
// bucket names from (leaderelection.statefulSetConfig and
// statefulSetPodDNS): the StatefulSet's name (STATEFUL_CONTROLLER_ORDINAL
// without its ordinal), its Service (STATEFUL_SERVICE_NAME), protocol and
// port (STATEFUL_SERVICE_PROTOCOL, default http; STATEFUL_SERVICE_PORT,
// default 80), the namespace (SYSTEM_NAMESPACE) and the cluster domain.
type StatefulSetNaming struct {
	SetName, Service, Protocol, Port, Namespace, ClusterDomain string
}

// BucketName is the bucket of ordinal, as knative names it:
// PROTOCOL://SET-ORDINAL.SERVICE.NAMESPACE.svc.DOMAIN:PORT, e.g.
// "http://controller-2.controller.ns.svc.cluster.local:80".
func (n StatefulSetNaming) BucketName(ordinal int) string {
	return fmt.Sprintf("%s://%s-%d.%s.%s.svc.%s:%s", n.Protocol, n.SetName, ordinal, n.Service, n.Namespace, n.ClusterDomain, n.Port)
}

// Buckets lists the names of ordinals 0..total-1, sorted, and the one the
// pod of ordinal owns: knative takes the ordinal-th of the sorted names
// (NewStatefulSetBucketAndSet), which is the pod's own up to 10 replicas
// and, past them, another pod's name ("SET-10" sorts before "SET-2"): the
// set of owned buckets is the same either way, one per pod.
func (n StatefulSetNaming) Buckets(ordinal, total int) (names []string, own string) {
	names = make([]string, total)
	for i := range total {
		names[i] = n.BucketName(i)
	}
	names = sortedSet(names)
	if ordinal >= 0 && ordinal < len(names) {
		own = names[ordinal]
	}
	return names, own
}

// DefaultClusterDomain is knative's domain when nothing names one.
const DefaultClusterDomain = "cluster.local"

// ClusterDomain is the cluster domain as knative.dev/pkg/network's
// GetClusterDomainName finds it: when the resolver file (/etc/resolv.conf in
// a pod) can be opened, CLUSTER_DOMAIN if set, else the first "svc.DOMAIN"
// of its search line; otherwise, or when neither names one, cluster.local.
// (knative reads the variable only once the file has opened.)
func ClusterDomain(resolvConf string, getenv func(string) string) string {
	f, err := os.Open(resolvConf)
	if err != nil {
		return DefaultClusterDomain
	}
	defer f.Close()
	if d := getenv("CLUSTER_DOMAIN"); d != "" {
		return d
	}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		fields := strings.Split(sc.Text(), " ")
		if fields[0] != "search" {
			continue
		}
		for _, e := range fields[1:] {
			if strings.HasPrefix(e, "svc.") {
				return strings.TrimSuffix(e[4:], ".")
			}
		}
	}
	return DefaultClusterDomain
}

// BucketSet answers which bucket owns a key. It is safe for concurrent use:
// it never changes after creation.
type BucketSet struct {
	names []string // sorted, distinct
}

// NewBucketSet makes a set of the given bucket names (order and duplicates do
// not matter, as in knative, where it is a set).
func NewBucketSet(names []string) *BucketSet {
	return &BucketSet{names: sortedSet(names)}
}

// NewStandardBucketSet makes the set of total buckets named by BucketName.
// Bucket i of the returned Names() is not necessarily ordinal i: use
// BucketName to name the bucket of an ordinal.
func NewStandardBucketSet(component, queue string, total int) *BucketSet {
	names := make([]string, total)
	for i := range total {
		names[i] = BucketName(component, queue, i, total)
	}
	return NewBucketSet(names)
}

// Names lists the bucket names, sorted.
func (b *BucketSet) Names() []string { return slices.Clone(b.names) }

// Has reports whether name is one of the buckets.
func (b *BucketSet) Has(name string) bool {
	_, ok := slices.BinarySearch(b.names, name)
	return ok
}

// Owner returns the bucket that owns key: ChooseSubset(buckets, 1, key).
func (b *BucketSet) Owner(key string) string {
	switch len(b.names) {
	case 0:
		return ""
	case 1:
		return b.names[0]
	}
	r := buildRing(b.names, key)
	i, _ := slices.BinarySearch(r.points, r.start)
	if i == len(r.points) {
		i = 0
	}
	return r.names[r.points[i]]
}

// ParseStatefulSetID splits a StatefulSet pod name at its last dash into the
// StatefulSet's name and the ordinal, as knative decodes
// STATEFUL_CONTROLLER_ORDINAL ("controller-2" is controller, 2).
func ParseStatefulSetID(podName string) (setName string, ordinal int, err error) {
	n, err := ParseOrdinal(podName)
	if err != nil {
		return "", 0, err
	}
	return podName[:strings.LastIndex(podName, "-")], n, nil
}

// ParseOrdinal returns the ordinal of a StatefulSet pod name such as
// "controller-2" (the number after the last dash), the way knative parses
// its ordinal environment variable and Tekton sets STATEFUL_CONTROLLER_ORDINAL.
func ParseOrdinal(podName string) (int, error) {
	i := strings.LastIndex(podName, "-")
	if i < 0 || i == len(podName)-1 {
		return 0, fmt.Errorf("no ordinal in pod name %q (want NAME-N, e.g. controller-2)", podName)
	}
	n, err := strconv.ParseUint(podName[i+1:], 10, 31)
	if err != nil {
		return 0, fmt.Errorf("no ordinal in pod name %q (want NAME-N, e.g. controller-2): %w", podName, err)
	}
	return int(n), nil
}
