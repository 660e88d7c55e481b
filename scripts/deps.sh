#!/usr/bin/env bash
# deps.sh installs, from Debian's packages, what perfrun's tests need and the
# machine lacks. Idempotent: installs nothing when everything is present.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v wrk >/dev/null || need+=(wrk)
# prometheus: the assertions' integration tests evaluate PromQL on a real one.
command -v prometheus >/dev/null || need+=(prometheus)
# shellcheck: actionlint (make test-workflows) checks the workflows' run: steps with it.
command -v shellcheck >/dev/null || need+=(shellcheck)
# kind's path (make kind-smoke, nightly): a Docker daemon perfrun starts itself
# (scripts/dockerd.sh; the package's service is not started), mmdebstrap for
# the node's root filesystem, jq and capsh for scripts/runc-bounded.sh, nft
# for kube-proxy's image.
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || need+=(debian-archive-keyring)
command -v jq >/dev/null || need+=(jq)
command -v capsh >/dev/null || need+=(libcap2-bin)
command -v nft >/dev/null || need+=(nftables)

if ((${#need[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "deps.sh: missing ${need[*]} and not root; install them with apt-get" >&2
		exit 1
	fi
	echo "deps.sh: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "deps.sh: ok (redis-server $(redis-server --version | awk '{print $3}'))"
