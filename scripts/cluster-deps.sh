#!/usr/bin/env bash
# cluster-deps.sh installs, from Debian's packages, what the local cluster
# (perfrun cluster up) needs and the machine lacks: the container runtime,
# the CNI plugins, the packet filters kube-proxy programs, the tools the node
# needs (mount, conntrack), and redis-server (its binary and
# libraries become the cluster's Redis image). Idempotent.
set -euo pipefail

need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v nft >/dev/null || need+=(nftables)
command -v conntrack >/dev/null || need+=(conntrack)
command -v redis-server >/dev/null || need+=(redis-server)
command -v ip >/dev/null || need+=(iproute2)
command -v mount >/dev/null || need+=(mount)

if ((${#need[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "cluster-deps.sh: missing ${need[*]} and not root; install them with apt-get" >&2
		exit 1
	fi
	echo "cluster-deps.sh: installing ${need[*]}"
	apt-get update -qq
	# policy-rc.d keeps the packages' init scripts from starting daemons
	# (containerd): perfrun starts its own, bound where it says.
	[[ -e /usr/sbin/policy-rc.d ]] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "cluster-deps.sh: ok (containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'))"
