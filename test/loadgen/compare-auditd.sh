#!/usr/bin/env bash
# compare-auditd.sh: the same module-load load against Debian's auditd and
# against auditlkm, one after the other in one run, on this machine.
#
#   sudo test/loadgen/compare-auditd.sh [SECONDS] [RATE...]
#
# For each daemon and rate it prints sent, received, the kernel's lost
# increase and the daemon's CPU per 10,000 events (utime+stime from
# /proc/PID/stat), and the highest rate each held with nothing lost.
# auditd runs without forking (-n) with a temporary configuration (log to a
# temporary file, no dispatcher plugins); the kernel gets backlog 8192 and
# no backlog wait for both, as auditlkm sets by default. The script holds
# the shared kernel lock for its whole run, adds one finit_module rule for
# auditd and deletes exactly that rule, and restores enabled, backlog
# limit, backlog wait time and rate limit on exit, failure included.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
if [ -z "${COMPARE_LOCKED:-}" ]; then
	exec env COMPARE_LOCKED=1 flock /run/lock/auditlkm-kernel.lock "$0" "$@"
fi
secs=${1:-10}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(20000 25000 30000 35000 40000 50000 70000)

if ! command -v auditd >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null
fi
tmp=$(mktemp -d)
go build -o "$tmp/loadgen" ./test/loadgen
go build -o "$tmp/auditlkm" ./cmd/auditlkm
clk=$(getconf CLK_TCK)

status() { auditctl -s | awk -v k="$1" '$1==k {print $2}'; }
[ "$(status pid)" = 0 ] || { echo "audit pid $(status pid) is held: stop it first" >&2; exit 1; }
orig_enabled=$(status enabled) orig_backlog=$(status backlog_limit)
orig_wait=$(status backlog_wait_time) orig_rate=$(status rate_limit)
rule=(always,exit -F arch=b64 -S finit_module -k auditlkm-compare)
daemon_pid=""
restore() {
	[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
	auditctl -d "${rule[@]}" >/dev/null 2>&1 || true
	auditctl -e "$orig_enabled" -b "$orig_backlog" --backlog_wait_time "$orig_wait" -r "$orig_rate" >/dev/null
	rm -rf "$tmp"
}
trap restore EXIT

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
wait_drained() {
	local last=-1 n
	for _ in $(seq 1 100); do
		n=$(eval "$1")
		[ "$n" = "$last" ] && [ "$(status backlog)" = 0 ] && return
		last=$n
		sleep 1
	done
}

# run_rates NAME COUNT_CMD: COUNT_CMD prints the events received for $lgpid.
best=""
run_rates() {
	local name=$1 count=$2 top=0
	for rate in "${rates[@]}"; do
		lost0=$(status lost) cpu0=$(cpu "$daemon_pid")
		out=$("$tmp/loadgen" -mode module -rate "$rate" -duration "${secs}s" -workers 2)
		lgpid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' <<<"$out")
		sent=$(sed 's/.*"sent":\([0-9]*\).*/\1/' <<<"$out")
		achieved=$(sed 's/.*"achieved_rate":\([0-9.]*\).*/\1/' <<<"$out")
		wait_drained "$count"
		recv=$(eval "$count")
		lost=$(( $(status lost) - lost0 ))
		cpu_s=$(awk -v a="$cpu0" -v b="$(cpu "$daemon_pid")" -v c="$clk" 'BEGIN{printf "%.3f", (b-a)/c}')
		per10k=$(awk -v s="$cpu_s" -v r="$recv" 'BEGIN{ if (r>0) printf "%.3f", s/r*10000; else print "-"}')
		held=no
		if [ "$recv" = "$sent" ] && [ "$lost" = 0 ] && awk -v a="$achieved" -v r="$rate" 'BEGIN{exit !(a >= 0.95*r)}'; then
			held=yes top=$rate
		fi
		printf '%-9s rate %6s achieved %8.0f sent %8s received %8s kernel_lost %8s cpu %7ss per10k %ss held %s\n' \
			"$name" "$rate" "$achieved" "$sent" "$recv" "$lost" "$cpu_s" "$per10k" "$held"
		[ "$held" = yes ] || break
	done
	best="$best $name=$top"
}

auditctl -b 8192 --backlog_wait_time 0 -r 0 >/dev/null

# auditd: not forking (-n; -f would send records to stderr), temporary
# config, no plugins.
mkdir -p "$tmp/auditd/plugins.d"
cat >"$tmp/auditd/auditd.conf" <<CONF
local_events = yes
write_logs = yes
log_file = $tmp/audit.log
log_format = RAW
log_group = root
priority_boost = 4
flush = INCREMENTAL_ASYNC
freq = 50
num_logs = 5
max_log_file = 100000
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
plugin_dir = $tmp/auditd/plugins.d
q_depth = 8192
overflow_action = SYSLOG
CONF
auditd -n -c "$tmp/auditd" >/dev/null 2>&1 &
daemon_pid=$!
for _ in $(seq 1 50); do [ "$(status pid)" = "$daemon_pid" ] && break; sleep 0.1; done
[ "$(status pid)" = "$daemon_pid" ] || { echo "auditd did not claim the audit pid" >&2; exit 1; }
auditctl -a "${rule[@]}" >/dev/null
run_rates auditd 'grep -c " syscall=313 .* pid=$lgpid " "$tmp/audit.log" || true'
auditctl -d "${rule[@]}" >/dev/null
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""
for _ in $(seq 1 50); do [ "$(status pid)" = 0 ] && break; sleep 0.1; done

# auditlkm: its embedded rules include the finit_module rule.
"$tmp/auditlkm" run --output.alerts "$tmp/alerts.json" --state.dir "$tmp/state" \
	--web.listen-address 127.0.0.1:0 2>"$tmp/auditlkm.log" &
daemon_pid=$!
for _ in $(seq 1 100); do grep -q "auditlkm started" "$tmp/auditlkm.log" && break; sleep 0.1; done
# A summary of an alert storm stands for auditd.aggregated_count alerts.
run_rates auditlkm 'python3 -c "
import json, sys
n = 0
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a[\"rule\"][\"id\"] == \"kernel-module-load\" and a[\"process\"][\"pid\"] == int(sys.argv[2]):
        n += max(1, a[\"auditd\"].get(\"aggregated_count\", 0))
print(n)" "$tmp/alerts.json" "$lgpid"'
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""
echo "highest zero-loss module-load rate:$best"
