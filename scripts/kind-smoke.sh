#!/bin/sh
# kind-smoke.sh RESULTS: the kind path end to end, as make kind-smoke runs
# it: perfrun run --provider kind creates a kind cluster from perfrun's
# offline node image (built when missing) and runs the smoke scenario on
# it; perfrun cluster kind-down deletes the cluster. Docker is perfrun's
# own when none answers (scripts/with-docker.sh). Then nothing may be left:
# no kind cluster, and the host's links, routes, iptables and nftables
# rules, mounts and kernel settings as they were before (the same checks as
# the local cluster's test).
set -eu
results=${1:?usage: kind-smoke.sh RESULTS}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
perfrun=${PERFRUN:-$repo/bin/perfrun}
k6=${K6:-$repo/bin/k6}
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT

snapshot() {
	ip -br link | awk '{print $1, $2}' | sort >"$1/link"
	ip route | sort >"$1/route"
	iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' >"$1/iptables" || true
	nft list ruleset 2>/dev/null >"$1/nft" || true
	awk '{print $2, $3}' /proc/mounts | sort >"$1/mounts"
	# The kernel settings a node's kubelet changes on the shared kernel
	# (cluster/local.Sysctls; the kind provider puts them back).
	for k in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
		kernel/keys/root_maxkeys kernel/keys/root_maxbytes net/ipv4/ip_forward \
		net/ipv4/conf/all/route_localnet net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables; do
		echo "$k $(cat /proc/sys/$k 2>/dev/null || echo -)"
	done >"$1/sysctl"
}
mkdir -p "$base/before" "$base/after"
snapshot "$base/before"
start=$(date +%s)
status=0
sh "$here/with-docker.sh" sh -c '
	"$0" run --provider kind --repo "$1" --k6 "$2" --results "$3" "$1/suites/scenarios/smoke.yaml"
	s=$?
	# perfrun run leaves the cluster it created up for the next run.
	"$0" cluster kind-down --source "$1" || s=1
	if kind get clusters 2>/dev/null | grep -qx perfrun; then
		echo "kind-smoke: the kind cluster perfrun is still there" >&2
		exit 1
	fi
	exit $s' "$perfrun" "$repo" "$k6" "$results" || status=$?
echo "kind-smoke: perfrun run on kind and kind-down exited $status in $(( $(date +%s) - start ))s"
snapshot "$base/after"
for f in link route iptables nft mounts sysctl; do
	if ! diff -u "$base/before/$f" "$base/after/$f"; then
		echo "kind-smoke: the host's $f changed (above)" >&2
		status=1
	fi
done
[ "$status" = 0 ] && echo "kind-smoke: passed; the host is as it was"
exit "$status"
