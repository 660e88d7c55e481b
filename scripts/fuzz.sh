#!/usr/bin/env bash
# fuzz.sh PKG TARGET FUZZTIME MINIMIZE: go test -fuzz for FUZZTIME. Go's
# fuzzing coordinator can end a run that found no failing input with only
# "context deadline exceeded" (the deadline lands while a worker is still
# minimizing a new interesting input: seen once in CI on 2 busy cores).
# That one message, with no failing input written, is retried once and
# said so; any other failure, a crash with its input above all, fails.
set -uo pipefail
pkg=$1 target=$2 fuzztime=$3 minimize=$4
for attempt in 1 2; do
	out=$(mktemp)
	go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" 2>&1 | tee "$out"
	status=${PIPESTATUS[0]}
	if [ "$status" -eq 0 ]; then rm -f "$out"; exit 0; fi
	if [ "$attempt" -eq 1 ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
		echo "fuzz.sh: $target ended with Go's 'context deadline exceeded' and no failing input: running it once more" >&2
		rm -f "$out"
		continue
	fi
	rm -f "$out"
	exit "$status"
done
