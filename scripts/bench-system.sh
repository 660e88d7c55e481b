#!/usr/bin/env bash
# bench-system.sh measures the reference system against its ceiling, in one
# run on one machine: Go benchmarks for authrep (listener, real Redis) and a
# worker's job apply, then redis-benchmark for the Redis commands they issue,
# against a redis-server started the same way. Figures are ratios against the
# ceiling measured here, never absolute targets.
#   COUNT=5 scripts/bench-system.sh      (results in bin/bench/)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-5}
out=bin/bench
mkdir -p "$out"

echo "== go benchmarks (count=$count) -> $out/system.txt"
go test -run '^$' -bench 'Authrep|Apply' -benchmem -count "$count" \
	./system/listener ./system/worker ./system/queue ./system/usage 2>&1 | tee "$out/system.txt" | grep -E '^(Benchmark|ok|FAIL)' || true

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" --daemonize no --loglevel warning &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$port" hset h a 1 b 2 c 3 >/dev/null

echo "== redis-benchmark (50 clients, no pipelining) -> $out/redis.txt"
# The commands an authrep issues, one round trip each (the pipelines batch
# several of them; a round trip is the unit that bounds throughput).
redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n 200000 -q hgetall h | tee "$out/redis.txt"
redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n 200000 -q xadd s '*' f v | tee -a "$out/redis.txt"
redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n 200000 -q rpush l v | tee -a "$out/redis.txt"
redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n 200000 -q hincrby h a 1 | tee -a "$out/redis.txt"

# authrep does 5 round trips (service+token+user key, application+metrics,
# plan limits, usage per period, enqueue): its ceiling is hgetall rate / 5.
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
    m = re.match(r'^"?(\w+)[^:]*:\s*([\d.]+) requests per second', line, re.I)
    if m:
        red[m.group(1).lower()] = float(m.group(2))
hg = red.get('hgetall')
print("\n== summary (medians)")
for k, v in sorted(ns.items()):
    ops = 1e9 / statistics.median(v)
    line = f"{k:45s} {ops:10.0f} ops/s"
    if hg and 'Authrep' in k:
        line += f"   ceiling hgetall/5 = {hg/5:8.0f}/s   ratio {ops/(hg/5):.2f}"
    print(line)
for k, v in red.items():
    print(f"redis-benchmark {k:29s} {v:10.0f} ops/s")
PY
