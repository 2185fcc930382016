#!/usr/bin/env bash
# drop-cost.sh: what the default drop-place rules (48-auditlkm-drops.rules)
# cost, on this machine, in one run.
#
#   sudo test/loadgen/drop-cost.sh [SECONDS] [CREATE_RATE]
#
# auditlkm runs with its default rules, once as shipped and once with the
# drop rules deleted (--audit.repair=false, then auditctl -d of exactly
# those lines). In each phase loadgen measures:
#   open:   open(O_RDONLY)+close of a file in /tmp, as fast as one worker
#           can (ops/s): the cost the rules add to every other open;
#   files:  create+rename+unlink in a directory under /tmp at CREATE_RATE
#           per second: with the drop rules each create and rename is an
#           event; the daemon's CPU (utime+stime) per 10,000 of them and
#           the kernel's lost increase are printed.
# Holds the shared kernel lock; the daemon restores the kernel on exit.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
if [ -z "${DROPCOST_LOCKED:-}" ]; then
	exec env DROPCOST_LOCKED=1 flock /run/lock/auditlkm-kernel.lock "$0" "$@"
fi
secs=${1:-5}
rate=${2:-5000}
tmp=$(mktemp -d)
trap 'kill "${dpid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/loadgen" ./test/loadgen
go build -o "$tmp/auditlkm" ./cmd/auditlkm
clk=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
lost() { auditctl -s | awk '$1=="lost" {print $2}'; }
work=$(mktemp -d /tmp/dropcost.XXXXXX)
trap 'kill "${dpid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp" "$work"' EXIT

phase() { # name, extra daemon flags...
	local name=$1
	shift
	"$tmp/auditlkm" run --output.alerts /dev/null --state.dir "$tmp/state-$name" \
		--web.listen-address "" --kmsg.enable=false "$@" 2>"$tmp/$name.log" &
	dpid=$!
	for _ in $(seq 100); do grep -q "auditlkm started" "$tmp/$name.log" 2>/dev/null && break; sleep 0.1; done
	if [ "$name" = without ]; then
		"$tmp/auditlkm" rules print | grep -- '-k auditlkm-drop\|key=auditlkm-drop' | sed 's/^-a /-d /' |
			while read -r line; do
				# shellcheck disable=SC2086
				auditctl $line >/dev/null
			done
	fi
	local n
	n=$(auditctl -l | grep -c auditlkm-drop || true)
	local open
	open=$("$tmp/loadgen" -mode open -dir "$work" -rate 0 -duration "${secs}s" | sed 's/.*"achieved_rate":\([0-9.]*\).*/\1/')
	local c0 l0 out c1 l1
	c0=$(cpu "$dpid") l0=$(lost)
	out=$("$tmp/loadgen" -mode files -dir "$work" -rate "$rate" -duration "${secs}s")
	sleep 1
	c1=$(cpu "$dpid") l1=$(lost)
	local ops events
	ops=$(echo "$out" | sed 's/.*"ops":\([0-9]*\).*/\1/')
	events=0
	[ "$name" = with ] && events=$((ops * 2))
	awk -v name="$name" -v n="$n" -v open="$open" -v rate="$rate" -v ops="$ops" -v ev="$events" \
		-v c="$(((c1 - c0)))" -v clk="$clk" -v lost="$((l1 - l0))" 'BEGIN{
		cpu = c / clk
		printf "%-8s drop rules %2d  open+close %9.0f/s  files %5d/s: %7d ops, %7d drop events, daemon cpu %.2fs", name, n, open, rate, ops, ev, cpu
		if (ev > 0) printf " (%.3fs per 10k events)", cpu / ev * 10000
		printf ", kernel lost %d\n", lost }'
	kill -TERM "$dpid"
	wait "$dpid" || true
	dpid=
}
phase with
phase without --audit.repair=false
