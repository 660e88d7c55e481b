#!/bin/sh
# dockerd.sh start|stop|env: a Docker daemon of perfrun's own for kind, not
# the system's service. Its data, exec root, socket and pid file are its
# own (PERFRUN_DOCKER_ROOT, default /var/lib/perfrun/docker; the socket and
# pid under /run/perfrun-docker), so it never meets a Docker the machine
# may already run.
#
# It changes nothing on the host that stop does not undo: no iptables rules
# (--iptables=false: Docker would add FORWARD DROP and its DOCKER chains),
# no ip forwarding, no default bridge. Its one address pool is
# 198.18.254.0/24, so kind's network lands there and no container ever gets
# a private range; published ports go through docker-proxy on 127.0.0.1.
# Containers run with runc-bounded.sh: kind's privileged nodes asked for
# capabilities this VM does not have.
# stop ends the daemon and every container it runs, and removes the links
# and mounts it left. `eval "$(scripts/dockerd.sh env)"` points docker and
# kind at it.
set -eu
root=${PERFRUN_DOCKER_ROOT:-/var/lib/perfrun/docker}
run=/run/perfrun-docker
sock=$run/docker.sock
pid=$run/dockerd.pid
log=${PERFRUN_DOCKER_LOG:-$root.log}
net=${PERFRUN_DOCKER_POOL:-198.18.254.0/24}

running() { [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; }

case ${1:-} in
start)
	if running; then
		echo "dockerd: running (pid $(cat "$pid"), $sock)"
		exit 0
	fi
	command -v dockerd >/dev/null || { echo "dockerd.sh: no dockerd (scripts/deps.sh installs docker.io)" >&2; exit 1; }
	mkdir -p "$root" "$run"
	# -500 is Docker's default; this VM cannot lower a score
	# (shared/notes/local-cluster.md), so the daemon keeps 0.
	here=$(cd "$(dirname "$0")" && pwd)
	dockerd --data-root "$root/data" --exec-root "$run/exec" --pidfile "$pid" \
		-H "unix://$sock" --iptables=false --ip6tables=false --ip-forward=false \
		--ip-masq=false --bridge=none --default-address-pool "base=$net,size=24" \
		--oom-score-adjust=0 --add-runtime "perfrun-runc=$here/runc-bounded.sh" \
		--default-runtime perfrun-runc --storage-driver=overlay2 --log-level=warn \
		>>"$log" 2>&1 &
	i=0
	until DOCKER_HOST=unix://$sock docker version >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt 60 ]; then
			echo "dockerd.sh: dockerd did not answer on $sock in 30 s; its log, $log:" >&2
			tail -20 "$log" >&2
			exit 1
		fi
		sleep 0.5
	done
	# kind's network, made here so it is in the pool's range without IPv6
	# (kind would ask for a ULA range) and without masquerading.
	DOCKER_HOST=unix://$sock docker network inspect kind >/dev/null 2>&1 ||
		DOCKER_HOST=unix://$sock docker network create -d bridge --subnet "$net" \
			-o com.docker.network.bridge.enable_ip_masquerade=false kind >/dev/null
	echo "dockerd: started (pid $(cat "$pid"), $sock, log $log)"
	;;
stop)
	if running; then
		ids=$(DOCKER_HOST=unix://$sock docker ps -aq 2>/dev/null || true)
		[ -z "$ids" ] || DOCKER_HOST=unix://$sock docker rm -f $ids >/dev/null 2>&1 || true
		DOCKER_HOST=unix://$sock docker network prune -f >/dev/null 2>&1 || true
		p=$(cat "$pid")
		kill "$p"
		i=0
		while kill -0 "$p" 2>/dev/null; do
			i=$((i + 1))
			[ "$i" -lt 60 ] || { kill -9 "$p" 2>/dev/null || true; break; }
			sleep 0.5
		done
	fi
	# What a daemon that died without its clean-up can leave.
	for l in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep '^br-' || true); do
		ip link del "$l" 2>/dev/null || true
	done
	for m in $(awk -v r="$run" -v d="$root" '$2 ~ "^"r || $2 ~ "^"d {print $2}' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -f "$pid" "$sock"
	echo "dockerd: stopped"
	;;
env)
	echo "export DOCKER_HOST=unix://$sock"
	;;
*)
	echo "usage: dockerd.sh start|stop|env" >&2
	exit 2
	;;
esac
