#!/usr/bin/env bash
# compare-auditd.sh: the same load against Debian's auditd and against
# auditlkm (without and with its raw log, --output.records), one after the
# other in one run, on this machine.
#
#   sudo test/loadgen/compare-auditd.sh [SECONDS] [RATE...]
#
# COMPARE_MODES (default "module files") picks the loads: module =
# finit_module attempts (one event each), files = create, rename and unlink
# of a file in /run/modprobe.d, a directory auditlkm watches (three events
# per iteration). COMPARE_RECORDS (default "off on") picks auditlkm without
# and/or with --output.records. For each daemon, load and rate it prints
# the operations' rate achieved (RATE and achieved count operations: in files
# mode each makes three events), the events sent and received and what is
# missing (sent - received), the loss where each layer counts it: the
# kernel's lost counter (records, not events: a lost event costs each of its
# records, and an event lost before the kernel gave it a serial leaves no
# trace elsewhere), auditlkm's own drops (records its queue to the pipeline
# or its socket dropped, auditlkm_netlink_queue_dropped_total and
# auditlkm_netlink_socket_drops_total) and its sequence gaps (events whose
# serial never arrived, auditlkm_reassembly_sequence_gaps_total; "-" for
# auditd), and the daemon's CPU per 10,000
# events (its threads' run time, /proc/PID/task/*/schedstat); per load, the highest rate each
# held with nothing lost and, per rate, auditlkm's CPU per event over
# auditd's and the share of auditlkm's CPU the raw log costs. A daemon's
# sweep stops at the first rate it does not hold, unless COMPARE_ALL_RATES
# is set. COMPARE_ROUNDS (default 1) runs the daemons that many times in
# turn (auditd, auditlkm, auditlkm with the raw log, then again), so that
# a change of the machine's speed during the run falls on every daemon
# alike: the ratios are then given per round and as the median of the
# rounds.
# auditd runs without forking (-n) with a temporary configuration (log to a
# temporary file, no dispatcher plugins); the kernel gets backlog 8192 and
# no backlog wait for both, as auditlkm sets by default. The script holds
# the shared kernel lock (flock) for its whole run, adds one rule per load
# for auditd and deletes exactly that rule, and restores enabled, backlog
# limit, backlog wait time and rate limit on exit, failure included.
# The machine's CPU is shared: compare figures within one run only.
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
modes=(${COMPARE_MODES:-module files})
records=(${COMPARE_RECORDS:-off on})
rounds=${COMPARE_ROUNDS:-1}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "COMPARE_ROUNDS=$rounds: want a positive integer" >&2; exit 1; }
watchdir=/run/modprobe.d

if ! command -v auditd >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null
fi
tmp=$(mktemp -d)
go build -o "$tmp/loadgen" ./test/loadgen
go build -o "$tmp/auditlkm" ./cmd/auditlkm

status() { auditctl -s | awk -v k="$1" '$1==k {print $2}'; }
[ "$(status pid)" = 0 ] || { echo "audit pid $(status pid) is held: stop it first" >&2; exit 1; }
orig_enabled=$(status enabled) orig_backlog=$(status backlog_limit)
orig_wait=$(status backlog_wait_time) orig_rate=$(status rate_limit)
made_watchdir=""
if [ ! -d "$watchdir" ]; then mkdir -p "$watchdir" && made_watchdir=1; fi
rule=() rule_del=()
daemon_pid=""
restore() {
	[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
	[ ${#rule_del[@]} -gt 0 ] && { auditctl "${rule_del[@]}" >/dev/null 2>&1 || true; }
	auditctl -e "$orig_enabled" -b "$orig_backlog" --backlog_wait_time "$orig_wait" -r "$orig_rate" >/dev/null
	rm -f "$watchdir"/lg-*.tmp "$watchdir"/lg-*.conf
	[ -n "$made_watchdir" ] && rmdir "$watchdir" 2>/dev/null
	rm -rf "$tmp"
}
trap restore EXIT

# cpu PID prints the CPU time the process's threads ran, in nanoseconds
# (the sum of their schedstat run times): the clock ticks of
# /proc/PID/stat would count a run of 0.2 s to within 5 %. Both daemons
# keep their threads for the whole run.
cpu() { cat /proc/"$1"/task/*/schedstat | awk '{n += $1} END {printf "%.0f", n}'; }
wait_drained() {
	local last=-1 n
	for _ in $(seq 1 100); do
		n=$(eval "$1")
		[ "$n" = "$last" ] && [ "$(status backlog)" = 0 ] && return
		last=$n
		sleep 1
	done
}

# per10k_of[NAME/MODE/RATE/ROUND] is the CPU seconds per 10,000 events
# received of a run, held_of whether it held its rate with nothing lost.
declare -A per10k_of held_of
# run_rates NAME MODE COUNT_CMD: COUNT_CMD prints the events received for
# $lgpid (sent by the generator whose pid it is); $loss_cmd, when set,
# prints the daemon's own counts "DROPPED_RECORDS GAPS" (auditlkm).
best=""
run_rates() {
	local name=$1 mode=$2 count=$3 top=0 args=()
	[ "$mode" = files ] && args=(-dir "$watchdir")
	for rate in "${rates[@]}"; do
		lost0=$(status lost) cpu0=$(cpu "$daemon_pid") base=0 loss0=(0 0)
		[ -n "${count_base:-}" ] && base=$(eval "$count_base")
		[ -n "${loss_cmd:-}" ] && read -r -a loss0 <<<"$(eval "$loss_cmd")"
		out=$("$tmp/loadgen" -mode "$mode" -rate "$rate" -duration "${secs}s" -workers 2 "${args[@]}")
		lgpid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' <<<"$out")
		sent=$(sed 's/.*"sent":\([0-9]*\).*/\1/' <<<"$out")
		# RATE is operations per second: so is achieved (achieved_rate
		# is events per second, three times more in files mode).
		ops=$(sed 's/.*"ops":\([0-9]*\).*/\1/' <<<"$out")
		ran=$(sed 's/.*"seconds":\([0-9.e+-]*\).*/\1/' <<<"$out")
		achieved=$(awk -v o="$ops" -v s="$ran" 'BEGIN{printf "%.0f", (s > 0 ? o/s : 0)}')
		wait_drained "$count"
		recv=$(( $(eval "$count") - base ))
		lost=$(( $(status lost) - lost0 ))
		dropped=- gaps=-
		if [ -n "${loss_cmd:-}" ]; then
			read -r -a loss1 <<<"$(eval "$loss_cmd")"
			dropped=$(( loss1[0] - loss0[0] )) gaps=$(( loss1[1] - loss0[1] ))
		fi
		cpu_s=$(awk -v a="$cpu0" -v b="$(cpu "$daemon_pid")" 'BEGIN{printf "%.3f", (b-a)/1e9}')
		per10k=$(awk -v s="$cpu_s" -v r="$recv" 'BEGIN{ if (r>0) printf "%.3f", s/r*10000; else print "-"}')
		held=no
		if [ "$recv" -ge "$sent" ] && [ "$lost" = 0 ] && { [ "$dropped" = - ] || [ "$dropped" = 0 ]; } && awk -v a="$achieved" -v r="$rate" 'BEGIN{exit !(a >= 0.95*r)}'; then
			held=yes top=$rate
		fi
		per10k_of[$name/$mode/$rate/$round]=$per10k held_of[$name/$mode/$rate/$round]=$held
		printf 'round %d %-16s %-6s rate %6s achieved %6s ops/s sent %7s received %7s missing %7s events; kernel_lost %7s records, daemon_dropped %7s records, gaps %7s events; cpu %7ss per10k %ss held %s\n' \
			"$round" "$name" "$mode" "$rate" "$achieved" "$sent" "$recv" "$((sent - recv))" "$lost" "$dropped" "$gaps" "$cpu_s" "$per10k" "$held"
		[ "$held" = yes ] || [ -n "${COMPARE_ALL_RATES:-}" ] || break
	done
	best="$best $name/$mode/round$round=$top"
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

# syscall_count FILE MODE prints the SYSCALL records of $lgpid in FILE
# (audit.log format): finit_module attempts, or the file operations.
syscall_count() {
	if [ "$2" = module ]; then
		grep -c " syscall=313 .* pid=$lgpid " "$1" || true
	else
		grep -c "^type=SYSCALL .* pid=$lgpid " "$1" || true
	fi
}

port=$((20000 + RANDOM % 20000))
for round in $(seq 1 "$rounds"); do
	for mode in "${modes[@]}"; do
		if [ "$mode" = module ]; then
			rule=(-a always,exit -F arch=b64 -S finit_module -k auditlkm-compare)
			del=(-d always,exit -F arch=b64 -S finit_module -k auditlkm-compare)
		else
			rule=(-w "$watchdir/" -p wa -k auditlkm-compare)
			del=(-W "$watchdir/" -p wa -k auditlkm-compare)
		fi
		auditd -n -c "$tmp/auditd" >/dev/null 2>&1 &
		daemon_pid=$!
		for _ in $(seq 1 50); do [ "$(status pid)" = "$daemon_pid" ] && break; sleep 0.1; done
		[ "$(status pid)" = "$daemon_pid" ] || { echo "auditd did not claim the audit pid" >&2; exit 1; }
		auditctl "${rule[@]}" >/dev/null
		rule_del=("${del[@]}")
		count_base="" loss_cmd="" run_rates auditd "$mode" "syscall_count $tmp/audit.log $mode"
		auditctl "${rule_del[@]}" >/dev/null
		rule_del=()
		kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""
		for _ in $(seq 1 50); do [ "$(status pid)" = 0 ] && break; sleep 0.1; done

		# auditlkm: its embedded rules include the finit_module rule and the
		# watch on /run/modprobe.d.
		for rec in "${records[@]}"; do
			name=auditlkm records_args=()
			if [ "$rec" = on ]; then
				name=auditlkm+records
				rm -f "$tmp/records.log"
				records_args=(--output.records "$tmp/records.log")
			fi
			rm -f "$tmp/alerts.json"
			port=$((port + 1))
			"$tmp/auditlkm" run --output.alerts "$tmp/alerts.json" --state.dir "$tmp/state" \
				--web.listen-address "127.0.0.1:$port" "${records_args[@]}" 2>"$tmp/auditlkm.log" &
			daemon_pid=$!
			for _ in $(seq 1 100); do grep -q "auditlkm started" "$tmp/auditlkm.log" && break; sleep 0.1; done
			# Records auditlkm dropped itself (queue to the pipeline, socket),
			# and the events whose serial never reached its reassembly.
			loss_cmd="curl -s http://127.0.0.1:$port/metrics | awk '/^auditlkm_netlink_(queue_dropped|socket_drops)_total/ {d += \$2} /^auditlkm_reassembly_sequence_gaps_total / {g += \$2} END {printf \"%d %d\", d, g}'"
			if [ "$rec" = on ]; then
				# The raw log holds every record: count the generator's.
				count_base="" run_rates "$name" "$mode" "syscall_count $tmp/records.log $mode"
			elif [ "$mode" = module ]; then
				# A summary of an alert storm stands for auditd.aggregated_count alerts.
				count_base="" run_rates "$name" "$mode" 'python3 -c "
import json, sys
n = 0
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a[\"rule\"][\"id\"] == \"kernel-module-load\" and a[\"process\"][\"pid\"] == int(sys.argv[2]):
        n += max(1, a[\"auditd\"].get(\"aggregated_count\", 0))
print(n)" "$tmp/alerts.json" "$lgpid"'
			else
				# Without the raw log: events reassembled (all processes; the
				# kernel's lost counter tells losses).
				events="curl -s http://127.0.0.1:$port/metrics | awk '/^auditlkm_reassembly_events_total/ {n += \$2} END {printf \"%d\", n}'"
				count_base=$events run_rates "$name" "$mode" "$events"
			fi
			kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""
			for _ in $(seq 1 50); do [ "$(status pid)" = 0 ] && break; sleep 0.1; done
		done
	done
done
echo "highest zero-loss rate:$best"
# Ratios at each rate and round, per event received; "(lost)" marks a run
# that did not hold its rate. With more than one round, a median line
# follows the rounds' lines.
# median FORMAT prints the median of the numbers on stdin.
median() { sort -g | awk -v f="$1" '{v[NR] = $1} END {if (NR == 0) exit; if (NR % 2) printf f, v[(NR+1)/2]; else printf f, (v[NR/2] + v[NR/2+1]) / 2}'; }
for mode in "${modes[@]}"; do
	for rate in "${rates[@]}"; do
		offs="" ons="" shares=""
		for round in $(seq 1 "$rounds"); do
			k=$mode/$rate/$round
			a=${per10k_of[auditd/$k]:-} off=${per10k_of[auditlkm/$k]:-} on=${per10k_of[auditlkm+records/$k]:-}
			[ -n "$a" ] && [ "$a" != - ] || continue
			mark() { [ "${held_of[$1/$k]}" = yes ] || printf ' (lost)'; }
			line="ratio round $round $mode rate $rate: auditd per10k ${a}s$(mark auditd)"
			if [ -n "$off" ] && [ "$off" != - ]; then
				r=$(awk -v x="$off" -v y="$a" 'BEGIN{printf "%.2f", x/y}')
				line="$line; auditlkm/auditd $r$(mark auditlkm)" offs="$offs $r"
			fi
			if [ -n "$on" ] && [ "$on" != - ]; then
				r=$(awk -v x="$on" -v y="$a" 'BEGIN{printf "%.2f", x/y}')
				line="$line; auditlkm+records/auditd $r$(mark auditlkm+records)" ons="$ons $r"
			fi
			if [ -n "$on" ] && [ -n "$off" ] && [ "$on" != - ] && [ "$off" != - ]; then
				r=$(awk -v x="$on" -v y="$off" 'BEGIN{v = (x-y)/x*100; printf "%d", (v < 0 ? -int(-v+0.5) : int(v+0.5))}')
				line="$line; raw log share of auditlkm CPU $r%" shares="$shares $r"
			fi
			echo "$line"
		done
		[ "$rounds" -gt 1 ] || continue
		line="ratio median of $rounds rounds $mode rate $rate:"
		[ -n "$offs" ] && line="$line auditlkm/auditd $(tr ' ' '\n' <<<"$offs" | grep . | median %.2f);"
		[ -n "$ons" ] && line="$line auditlkm+records/auditd $(tr ' ' '\n' <<<"$ons" | grep . | median %.2f);"
		[ -n "$shares" ] && line="$line raw log share of auditlkm CPU $(tr ' ' '\n' <<<"$shares" | grep . | median %.0f | sed 's/^-0$/0/')%"
		echo "${line%;}"
	done
done
