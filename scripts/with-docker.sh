#!/bin/sh
# with-docker.sh CMD [ARG...]: run CMD where kind can reach a Docker daemon.
# When one answers already (a CI runner's, a workstation's), CMD uses it.
# Otherwise perfrun's own dockerd (scripts/dockerd.sh) is started for CMD
# and stopped after it, whatever CMD's result: nothing of it is left on
# the host. CMD's exit status is the script's.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if docker version >/dev/null 2>&1; then
	exec "$@"
fi
sh "$here/dockerd.sh" start
trap 'sh "$here/dockerd.sh" stop' EXIT
trap 'exit 130' INT TERM
eval "$(sh "$here/dockerd.sh" env)"
status=0
"$@" || status=$?
exit "$status"
