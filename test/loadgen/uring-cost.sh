#!/usr/bin/env bash
# uring-cost.sh: what the io_uring rules (47-auditlkm-io-uring.rules) cost.
#
#   sudo test/loadgen/uring-cost.sh [SECONDS]
#   AUDITLKM_BIN=/path/to/other/auditlkm test/loadgen/uring-cost.sh   # compare a build
#
# With auditlkm running (default rules), testdata/uringfs.c "bench" opens
# and closes a file through io_uring in a loop, one process: /etc/hostname
# (under the /etc io_uring rule: every open is a URINGOP event) and
# /usr/share/common-licenses/GPL-3 (matched by no rule). It prints opens
# per second, the daemon's CPU per 10,000 events and the kernel's lost
# increase. System calls never go through the io_uring list: the module
# load figures of compare-auditd.sh are the ones for them.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
if [ -z "${URINGCOST_LOCKED:-}" ]; then
	exec env URINGCOST_LOCKED=1 flock /run/lock/auditlkm-kernel.lock "$0" "$@"
fi
secs=${1:-5}
tmp=$(mktemp -d)
trap 'kill "${dpid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
gcc -O1 -o "$tmp/uringfs" test/testdata/uringfs.c -luring
bin=${AUDITLKM_BIN:-}
if [ -z "$bin" ]; then
	go build -o "$tmp/auditlkm" ./cmd/auditlkm
	bin=$tmp/auditlkm
fi
clk=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
lost() { auditctl -s | awk '$1=="lost" {print $2}'; }
"$bin" run --output.alerts /dev/null --state.dir "$tmp/state" --web.listen-address "" --kmsg.enable=false 2>"$tmp/log" &
dpid=$!
for _ in $(seq 100); do grep -q "auditlkm started" "$tmp/log" 2>/dev/null && break; sleep 0.1; done
echo "io_uring rules loaded: $(grep -o 'added=[0-9]*' "$tmp/log" | head -1) ($("$bin" rules print | grep -c '^-a always,io_uring' || true) io_uring lines)"
for p in /etc/hostname /usr/share/common-licenses/GPL-3; do
	c0=$(cpu "$dpid") l0=$(lost)
	rate=$("$tmp/uringfs" bench "$p" "$secs")
	sleep 1
	c1=$(cpu "$dpid") l1=$(lost)
	awk -v p="$p" -v r="$rate" -v s="$secs" -v c="$((c1 - c0))" -v clk="$clk" -v l="$((l1 - l0))" 'BEGIN{
		cpu = c / clk
		printf "%-34s %8.0f opens/s  daemon cpu %.2fs", p, r, cpu
		if (p == "/etc/hostname" && r > 0) printf " (%.3fs per 10k opens)", cpu / (r * s) * 10000
		printf "  kernel lost %d\n", l }'
done
kill -TERM "$dpid"
wait "$dpid" || true
dpid=
