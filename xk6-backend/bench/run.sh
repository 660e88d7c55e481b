#!/usr/bin/env bash
# Requests per load-generator CPU-second against one loopback endpoint (the
# real listener's GET /transactions/authrep.xml for one provisioned app), in
# one run, of:
#   (a)  bin/k6 with k6/x/backend, one authrep per iteration   (ext.js)
#   (a') bin/k6 with k6/x/backend, authrepMany batches          (ext-batch.js)
#   (b)  bin/k6 with the built-in k6/http                       (http.js)
#   (c)  wrk, the ceiling
#   (d)  bin/k6 running empty iterations (empty.js): k6's own cost per
#        iteration, the floor under any one-call-per-iteration script
#        (its row counts iterations, not requests)
# CPU is the generator process's own user+sys time (rusage, /usr/bin/time).
# Usage: run.sh [OUT.md]   env: DURATION (10s) VUS (16) WRK_THREADS (2) ROUNDS (3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/bin
LOAD=$ROOT/fixtures/load
DURATION=${DURATION:-10s}
VUS=${VUS:-16}
WRK_THREADS=${WRK_THREADS:-2}
ROUNDS=${ROUNDS:-3}
OUT=${1:-}
for b in "$BIN/k6" "$BIN/listener"; do
  [[ -x $b ]] || { echo "bench-k6: $b missing (make build k6)" >&2; exit 1; }
done
for t in redis-server wrk /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "bench-k6: $t missing (make deps)" >&2; exit 1; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# free_port asks the kernel for a free loopback port.
free_port() {
  "$BIN/k6" version >/dev/null # (keeps set -e honest if k6 is broken)
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
  echo "bench-k6: no free port" >&2; exit 1
}

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
LPORT=$(free_port)
# v1 queue and no worker: the reports pile up in one Redis list for the few
# seconds of the run, and no worker competes with the generators for CPU.
"$BIN/listener" -listen "127.0.0.1:$LPORT" -redis "redis://127.0.0.1:$RPORT" -queue v1 >"$WORK/listener.log" 2>&1 &
PIDS+=($!)
TARGET=http://127.0.0.1:$LPORT
for _ in $(seq 1 100); do
  curl -fs "$TARGET/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "$TARGET/readyz" >/dev/null || { cat "$WORK/listener.log" >&2; exit 1; }

export TARGET VUS DURATION SERVICE_ID=bench-svc SERVICE_TOKEN=bench-token USER_KEY=key-0 USER_KEY_PREFIX=key-
export TARGETS=$TARGET APPS=1 K6_NO_USAGE_REPORT=true
# Provision with the extension itself (setup() of the smoke script's lib).
cat >"$WORK/provision.js" <<JS
import { newClient, provision } from '$LOAD/lib.js';
const client = newClient();
export const options = { iterations: 1 };
export function setup() { provision(client); }
export default function () {}
JS
"$BIN/k6" run --quiet --no-summary "$WORK/provision.js" >/dev/null
URL="$TARGET/transactions/authrep.xml?service_token=$SERVICE_TOKEN&service_id=$SERVICE_ID&user_key=$USER_KEY&usage%5Bhits%5D=1"
curl -fs "$URL" | grep -q '<authorized>true</authorized>' || { echo "bench-k6: provisioning failed" >&2; exit 1; }

# cpu_of FILE: user+sys seconds written by /usr/bin/time -f '%U %S'.
cpu_of() { awk '{print $1 + $2}' "$1"; }
count_of() { # summary.json metric -> count
  python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["metrics"][sys.argv[2]]["count"]))' "$1" "$2"
}

declare -A REQS CPU RATES
run_k6() { # name script metric
  /usr/bin/time -f '%U %S' -o "$WORK/$1.time" \
    "$BIN/k6" run --quiet --no-color --summary-export "$WORK/$1.json" "$LOAD/bench/$2" >"$WORK/$1.log" 2>&1 \
    || { cat "$WORK/$1.log" >&2; exit 1; }
  REQS[$1]=$(count_of "$WORK/$1.json" "$3")
  CPU[$1]=$(cpu_of "$WORK/$1.time")
}
run_wrk() {
  /usr/bin/time -f '%U %S' -o "$WORK/wrk.time" wrk -t"$WRK_THREADS" -c"$VUS" -d"${DURATION}" "$URL" >"$WORK/wrk.log" 2>&1
  if grep -q 'Non-2xx' "$WORK/wrk.log"; then
    echo "bench-k6: wrk got non-2xx answers" >&2; cat "$WORK/wrk.log" >&2; exit 1
  fi
  REQS[wrk]=$(awk '/requests in/ {print $1}' "$WORK/wrk.log")
  CPU[wrk]=$(cpu_of "$WORK/wrk.time")
}
rate() { awk -v r="$1" -v c="$2" 'BEGIN { printf "%.0f", r / c }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "%.0f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Rounds interleave the generators so that a change in the machine's load
# (it is shared) touches all of them alike, and each round starts one
# generator further along (round 1: ext first, round 2: ext-batch first, ...)
# so that none always runs first or last; the table shows medians.
NAMES="ext ext-batch k6-http wrk empty"
run_one() {
  case $1 in
    ext) run_k6 ext ext.js backend_results ;;
    ext-batch) run_k6 ext-batch ext-batch.js backend_results ;;
    k6-http) run_k6 k6-http http.js http_reqs ;;
    wrk) run_wrk ;;
    empty) run_k6 empty empty.js iterations ;;
  esac
}
read -ra ORDER <<<"$NAMES"
for round in $(seq 1 "$ROUNDS"); do
  for i in "${!ORDER[@]}"; do
    run_one "${ORDER[$(((i + round - 1) % ${#ORDER[@]}))]}"
  done
  for n in $NAMES; do
    RATES[$n]="${RATES[$n]:-} $(rate "${REQS[$n]}" "${CPU[$n]}")"
    echo "bench-k6: round $round $n: ${REQS[$n]} requests, ${CPU[$n]} CPU s" >&2
  done
done
declare -A MED
for n in $NAMES; do MED[$n]=$(echo "${RATES[$n]}" | median); done
{
  echo "bench-k6: $(date -u +%FT%TZ), $(nproc) CPUs (load average $(cut -d' ' -f1 /proc/loadavg)), $VUS connections, $DURATION per run, $ROUNDS rounds, GET /transactions/authrep.xml on bin/listener (loopback)"
  echo
  echo "| generator | requests per CPU-second (median) | all rounds | vs k6/http | vs wrk |"
  echo "|---|---:|---|---:|---:|"
  for n in $NAMES; do
    echo "| $n | ${MED[$n]} |${RATES[$n]} | $(ratio "${MED[$n]}" "${MED[k6-http]}") | $(ratio "${MED[$n]}" "${MED[wrk]}") |"
  done
} | tee "${OUT:-/dev/null}"
