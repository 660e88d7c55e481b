#!/bin/sh
# runc-bounded.sh: runc for perfrun's own dockerd (scripts/dockerd.sh), which
# gives a container only the capabilities this process may hold. kind runs
# its nodes --privileged, and Docker 20.10 then asks for every capability
# it knows; on a VM whose bounding set lacks one (CAP_SYS_RESOURCE here,
# shared/notes/local-cluster.md) runc fails with "unable to apply caps:
# operation not permitted". For create and run, the bundle's config.json
# loses the capabilities outside the bounding set and any negative
# oom_score_adj (which needs CAP_SYS_RESOURCE); for exec (docker exec
# --privileged), the --process file loses them. Everything else is runc's.
set -eu
bundle= process= prev= sub=
for a in "$@"; do
	case $prev in
	--bundle | -b) bundle=$a ;;
	--process | -p) process=$a ;;
	esac
	case $a in
	--bundle=*) bundle=${a#--bundle=} ;;
	--process=*) process=${a#--process=} ;;
	create | run | exec) [ -n "$sub" ] || sub=$a ;;
	esac
	prev=$a
done
# bound FILE PATH: drop from the JSON at PATH (.process or .) what the
# bounding set does not allow.
bound() {
	bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
	allowed=$(capsh --decode="$bnd" | sed 's/.*=//' | tr 'a-z' 'A-Z' | jq -R 'split(",")')
	jq --argjson ok "$allowed" "
		(if $2.capabilities then
			$2.capabilities |= with_entries(.value |= map(select(. as \$c | \$ok | index(\$c))))
		else . end)
		| (if ($2.oomScoreAdj // 0) < 0 then $2.oomScoreAdj = 0 else . end)" "$1" >"$1.bounded"
	mv "$1.bounded" "$1"
}
case $sub in
create | run) [ -z "$bundle" ] || [ ! -f "$bundle/config.json" ] || bound "$bundle/config.json" .process ;;
exec) [ -z "$process" ] || [ ! -f "$process" ] || bound "$process" "" ;;
esac
exec runc "$@"
