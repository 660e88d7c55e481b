#!/usr/bin/env bash
# bench-system.sh measures the reference system against its ceiling, in one
# run on one machine: Go benchmarks for authrep (listener, real Redis) and a
# worker's job apply, then redis-benchmark for the Redis commands they issue,
# against a redis-server started the same way. Figures are ratios against the
# ceiling measured here, never absolute targets.
#   COUNT=6 scripts/bench-system.sh      (results in bin/bench/)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-6}
out=bin/bench
mkdir -p "$out"

echo "== go benchmarks (count=$count) -> $out/system.txt"
go test -run '^$' -bench 'Authrep|Apply' -benchmem -count "$count" \
	./system/listener ./system/worker ./system/queue ./system/usage 2>&1 | tee "$out/system.txt" | grep -E '^(Benchmark|ok|FAIL)' || true

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" --daemonize no --loglevel warning --logfile "$dir/redis.log" &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
rc() { redis-cli -p "$port" "$@" >/dev/null; }
# The same data the authrep benchmark provisions, in the catalog's layout.
rc hset catalog/service/s1 provider_key pk1 state active backend_version 2
rc set catalog/service_token/tok1/s1 1
rc set catalog/service/s1/user_key/uk1 a1
rc hset catalog/service/s1/app/a1 state active plan_id p1 plan_name basic
rc hset catalog/service/s1/metric_names m1 hits m2 search
rc hset catalog/service/s1/metric_parents m2 m1
rc hset catalog/service/s1/plan/p1/limits m2/minute 1000000000 m1/eternity 1000000
sha=$(redis-cli -p "$port" script load "$(cat system/catalog/auth.lua)")
stamps=$(python3 -c 'import datetime as d; n=d.datetime.utcnow(); m=n-d.timedelta(days=n.weekday()); print(n.strftime("minute:%Y%m%d%H%M"), n.strftime("hour:%Y%m%d%H"), n.strftime("day:%Y%m%d"), m.strftime("week:%Y%m%d"), n.strftime("month:%Y%m01"), n.strftime("year:%Y0101"), "eternity")')

echo "== redis-benchmark (50 clients, no pipelining) -> $out/redis.txt"
# authrep is two round trips on Redis's one thread: the authorization script
# (auth.lua, one consistent read of everything) and the enqueue (XADD for
# v2). Their rates, measured here, bound authrep from above.
# shellcheck disable=SC2086
rb() {
	local name=$1
	shift
	redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n 200000 -q "$@" 2>/dev/null | tr '\r' '\n' |
		sed -nE "s/.*: ([0-9.]+) requests per second.*/$name: \1 requests per second/p" | tee -a "$out/redis.txt"
}
: >"$out/redis.txt"
rb authscript evalsha "$sha" 0 s1 tok1 '' a1 $stamps
rb xadd xadd s '*' f v
rb rpush rpush l v
# The worker's apply is one round trip: the apply script (system/usage/
# apply.lua) on the report's dedupe marker and its seven period hashes,
# one metric pair per metric reported. BenchmarkApply runs one apply at a
# time, so its ceiling is the same script from one client (-c 1); v2 sets
# a fresh marker per report (__rand_int__), v1 skips it.
applysha=$(redis-cli -p "$port" script load "$(cat system/usage/apply.lua)")
akeys=""
for st in $stamps; do akeys="$akeys usage/{service:bench}/app:app-1/$st"; done
rb1() {
	local name=$1
	shift
	redis-benchmark -h 127.0.0.1 -p "$port" -c 1 -n 50000 -r 100000000 -q "$@" 2>/dev/null | tr '\r' '\n' |
		sed -nE "s/.*: ([0-9.]+) requests per second.*/$name: \1 requests per second/p" | tee -a "$out/redis.txt"
}
# shellcheck disable=SC2086
rb1 applyv1 evalsha "$applysha" 8 usage/applied/__rand_int__ $akeys 0 604800 120 7200 172800 1209600 5356800 63072000 0 hits 1 search 1
# shellcheck disable=SC2086
rb1 applyv2 evalsha "$applysha" 8 usage/applied/__rand_int__ $akeys 1 604800 120 7200 172800 1209600 5356800 63072000 0 hits 1 search 1

python3 - "$out/system.txt" "$out/redis.txt" <<'PY'
import re, statistics, sys
sysf, redf = sys.argv[1], sys.argv[2]
ns = {}
for line in open(sysf):
    m = re.match(r'^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op', line)
    if m:
        ns.setdefault(m.group(1), []).append(float(m.group(2)))
red = {}
for line in open(redf):
    m = re.match(r'^(\w+):\s*([\d.]+) requests per second', line.strip(), re.I)
    if m:
        red[m.group(1)] = float(m.group(2))
def ceiling(enqueue):
    a, q = red.get('authscript'), red.get(enqueue)
    return 1 / (1 / a + 1 / q) if a and q else None
print("\n== summary (medians; authrep ceiling = 1/(1/authscript + 1/enqueue), apply ceiling = apply script at -c 1, from redis-benchmark)")
for k, v in sorted(ns.items()):
    ops = 1e9 / statistics.median(v)
    line = f"{k:45s} {ops:10.0f} ops/s"
    c = None
    if 'Authrep' in k:
        c = ceiling('rpush' if k.endswith('/v1') else 'xadd')
    elif k.startswith('BenchmarkApply/'):
        c = red.get('apply' + k.rsplit('/', 1)[1])
    if c:
        line += f"   ceiling {c:8.0f}/s   ratio {ops / c:.2f}"
    print(line)
for k, v in red.items():
    print(f"redis-benchmark {k:29s} {v:10.0f} ops/s")
PY
