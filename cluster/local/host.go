package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sysctls are the kernel settings the cluster changes: the kubelet sets the
// first six unless protectKernelDefaults (which would instead refuse to run
// here), the CNI bridge turns on forwarding, kube-proxy may set
// route_localnet. up records them once; down puts them back.
var Sysctls = []string{
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward",
	"net/ipv4/conf/all/route_localnet",
	"net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables",
}

// ReadSysctls reads the current values of Sysctls (missing ones are left out).
func ReadSysctls() map[string]string {
	vals := map[string]string{}
	for _, k := range Sysctls {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			vals[k] = strings.TrimSpace(string(b))
		}
	}
	return vals
}

// NFTables lists the machine's nftables tables ("family name"). iptables-nft
// makes the ip filter/nat/mangle tables the first time the kubelet or CNI
// adds a chain; down removes those that were not there before up, once empty.
func NFTables(ctx context.Context) []string {
	out, err := run(ctx, "nft", "list", "tables")
	if err != nil {
		return nil
	}
	var tables []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "table" {
			tables = append(tables, f[1]+" "+f[2])
		}
	}
	sort.Strings(tables)
	return tables
}

// containerLogs is the kubelet's fixed folder of container log links.
const containerLogs = "/var/log/containers"

// hostRecord is what up saves of the machine before it first changes it.
type hostRecord struct {
	Sysctls  map[string]string `json:"sysctls"`
	NFTables []string          `json:"nftTables"`
	// HadContainerLogs says /var/log/containers was there before: the
	// kubelet makes it, down removes it only if it made it.
	HadContainerLogs bool `json:"hadContainerLogs"`
}

// recordHost saves the machine's settings before the cluster first
// touches them; an up after an up keeps the first record.
func (c *Cluster) recordHost(ctx context.Context) error {
	path := c.sysctlFile()
	if exists(path) {
		return nil
	}
	b, err := json.MarshalIndent(hostRecord{Sysctls: ReadSysctls(), NFTables: NFTables(ctx), HadContainerLogs: exists(containerLogs)}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// restoreHost puts back the recorded kernel settings and drops the empty
// nftables tables that appeared since up.
func (c *Cluster) restoreHost(ctx context.Context) error {
	b, err := os.ReadFile(c.sysctlFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var rec hostRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("reading the host record: %w", err)
	}
	var errs []error
	had := map[string]bool{}
	for _, t := range rec.NFTables {
		had[t] = true
	}
	for _, t := range NFTables(ctx) {
		f := strings.Fields(t)
		if had[t] || len(f) != 2 {
			continue
		}
		if nftTableEmpty(ctx, f[0], f[1]) {
			if _, err := run(ctx, "nft", "delete", "table", f[0], f[1]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if !rec.HadContainerLogs {
		// Remove only succeeds on an empty folder: nothing else is lost.
		if err := os.Remove(containerLogs); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for k, v := range rec.Sysctls {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s=%s: %w", k, v, err))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, os.Remove(c.sysctlFile()))
	}
	return errors.Join(errs...)
}

// nftTableEmpty says whether a table holds no rule (base chains with their
// policies only).
func nftTableEmpty(ctx context.Context, family, name string) bool {
	out, err := run(ctx, "nft", "-j", "list", "table", family, name)
	if err != nil {
		return false
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return false
	}
	for _, obj := range doc.Nftables {
		for k := range obj {
			if k == "rule" || k == "set" || k == "map" {
				return false
			}
		}
	}
	return true
}

// sysctlFile lives in the state folder, not the run folder: it must survive
// a reboot-less crash of perfrun between up and down.
func (c *Cluster) sysctlFile() string { return c.path("host-record.json") }

// setupNetwork creates the node's interface and address: dummy where the
// kernel has it, ifb otherwise (this machine's kernel has no dummy).
func setupNetwork(ctx context.Context) error {
	if _, err := os.Stat("/sys/class/net/" + Interface); err != nil {
		if _, err := run(ctx, "ip", "link", "add", Interface, "type", "dummy"); err != nil {
			if _, err2 := run(ctx, "ip", "link", "add", Interface, "type", "ifb"); err2 != nil {
				return fmt.Errorf("creating %s (dummy: %v): %w", Interface, err, err2)
			}
		}
	}
	steps := [][]string{
		{"addr", "replace", NodeIP + "/32", "dev", Interface},
		{"link", "set", Interface, "up"},
		// Host → ClusterIP traffic takes the node IP as source and never
		// the external interface.
		{"route", "replace", ServiceCIDR, "dev", Interface, "src", NodeIP},
	}
	for _, s := range steps {
		if _, err := run(ctx, "ip", s...); err != nil {
			return err
		}
	}
	// Pods reach each other and the world through the bridge.
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
}

// removeLinks deletes the node interface and the CNI bridge (veths go with
// their network namespaces).
func removeLinks(ctx context.Context) error {
	var errs []error
	for _, l := range []string{Bridge, Interface} {
		if _, err := os.Stat("/sys/class/net/" + l); err == nil {
			if _, err := run(ctx, "ip", "link", "del", l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeFirewall drops kube-proxy's nftables tables and every iptables chain
// the kubelet, kube-proxy or the CNI plugins made (KUBE-*, CNI-*), with the
// rules in built-in chains that jump to them. Other rules are not touched.
func removeFirewall(ctx context.Context) error {
	var errs []error
	for _, family := range []string{"ip", "ip6"} {
		if _, err := run(ctx, "nft", "list", "table", family, "kube-proxy"); err == nil {
			if _, err := run(ctx, "nft", "delete", "table", family, "kube-proxy"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			if err := removeChains(ctx, ipt, table); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// OurChain says whether an iptables chain is one the cluster made.
func OurChain(name string) bool {
	return strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-")
}

func removeChains(ctx context.Context, ipt, table string) error {
	out, err := run(ctx, ipt, "-w", "-t", table, "-S")
	if err != nil {
		return nil // no such table on this kernel: nothing of ours in it
	}
	var chains []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "-N" && OurChain(f[1]):
			chains = append(chains, f[1])
		case len(f) >= 2 && f[0] == "-A" && !OurChain(f[1]) && refersToOurs(f):
			// A rule in someone else's chain that jumps into ours.
			del := append([]string{"-w", "-t", table, "-D"}, f[1:]...)
			if _, err := run(ctx, ipt, del...); err != nil {
				return err
			}
		}
	}
	for _, ch := range chains {
		if _, err := run(ctx, ipt, "-w", "-t", table, "-F", ch); err != nil {
			return err
		}
	}
	for _, ch := range chains {
		if _, err := run(ctx, ipt, "-w", "-t", table, "-X", ch); err != nil {
			return err
		}
	}
	return nil
}

func refersToOurs(rule []string) bool {
	for i, f := range rule {
		if (f == "-j" || f == "-g") && i+1 < len(rule) && OurChain(rule[i+1]) {
			return true
		}
	}
	return false
}

// MountsUnder lists the mount points at or below any of the roots, deepest
// first (the order to unmount them in).
func MountsUnder(roots ...string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		for _, r := range roots {
			if mp == r || strings.HasPrefix(mp, r+"/") {
				mounts = append(mounts, mp)
				break
			}
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unmountAll(roots ...string) error {
	var errs []error
	for attempt := 0; attempt < 3; attempt++ {
		mounts, err := MountsUnder(roots...)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, m := range mounts {
			if err := syscall.Unmount(m, 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				// Busy: detach it, it goes when the last user does.
				if err2 := syscall.Unmount(m, syscall.MNT_DETACH); err2 != nil && !errors.Is(err2, syscall.EINVAL) {
					errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err2))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// CgroupDirs lists the cgroups the kubelet made (kubepods and everything
// below it) in every hierarchy, deepest first.
func CgroupDirs() []string {
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods*")
	if more, _ := filepath.Glob("/sys/fs/cgroup/kubepods*"); len(more) > 0 {
		roots = append(roots, more...)
	}
	for _, r := range roots {
		_ = filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	return dirs
}

func removeCgroups() error {
	var errs []error
	for attempt := 0; attempt < 20; attempt++ {
		errs = errs[:0]
		for _, d := range CgroupDirs() {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
			}
		}
		if len(errs) == 0 {
			return nil
		}
		// A cgroup is busy for a moment after its last task exits.
		time.Sleep(100 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// ShimPIDs lists containerd shims serving the containerd at socket (found
// by their -address argument, so another containerd's shims are never hit).
func ShimPIDs(socket string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == socket {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
