#!/usr/bin/env bash
# pgo-profile.sh: regenerate cmd/auditlkm/default.pgo, the CPU profile the
# Go toolchain uses to optimize auditlkm (profile-guided optimization:
# `go build ./cmd/auditlkm` reads it by default; -pgo=off builds without).
#
#   sudo test/pgo-profile.sh [OUT]     (default cmd/auditlkm/default.pgo)
#
# The profile merges the two ways auditlkm spends CPU under load:
# 1. replay: BenchmarkReplayHeavy (the heavy corpus, whole path: parse,
#    reassemble, correlate, detections, ECS alerts with records), 20 passes
#    on one core;
# 2. the daemon (`auditlkm run` with the raw log on, its embedded rules)
#    under test/loadgen: finit_module attempts at 30,000/s and 5,000/s, then
#    file create/rename/unlink in /run/modprobe.d at 5,000/s, 20 s each.
# Refresh it when the hot path changes shape (cmd/auditlkm's
# TestDefaultPGONamesTheHotPath fails when a function it lists is no longer
# in the profile). A stale profile is still safe: the compiler ignores what
# no longer matches and the program behaves the same, only less optimized.
#
# Needs root and the kernel audit subsystem (no other audit daemon
# running); takes about two minutes. It holds the shared kernel lock (flock)
# for its run and restores enabled, backlog limit, backlog wait time and
# rate limit on exit, failure included.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
if [ -z "${PGO_LOCKED:-}" ]; then
	exec env PGO_LOCKED=1 flock /run/lock/auditlkm-kernel.lock "$0" "$@"
fi
out=${1:-cmd/auditlkm/default.pgo}
watchdir=/run/modprobe.d
tmp=$(mktemp -d)

status() { auditctl -s | awk -v k="$1" '$1==k {print $2}'; }
command -v auditctl >/dev/null || { echo "auditctl not found (apt-get install auditd)" >&2; exit 1; }
[ "$(status pid)" = 0 ] || { echo "audit pid $(status pid) is held: stop it first" >&2; exit 1; }
orig_enabled=$(status enabled) orig_backlog=$(status backlog_limit)
orig_wait=$(status backlog_wait_time) orig_rate=$(status rate_limit)
made_watchdir=""
daemon_pid=""
restore() {
	[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
	auditctl -e "$orig_enabled" -b "$orig_backlog" --backlog_wait_time "$orig_wait" -r "$orig_rate" >/dev/null
	rm -f "$watchdir"/lg-*.tmp "$watchdir"/lg-*.conf
	[ -n "$made_watchdir" ] && rmdir "$watchdir" 2>/dev/null
	rm -rf "$tmp"
}
trap restore EXIT
if [ ! -d "$watchdir" ]; then mkdir -p "$watchdir" && made_watchdir=1; fi

# The binaries are built as they ship (with the current profile, if any):
# the Go toolchain's advice is to profile the program as it runs in
# production, and a profile of an optimized build stays a stable target.
go build -o "$tmp/loadgen" ./test/loadgen
go build -o "$tmp/auditlkm" ./cmd/auditlkm
go test -c -o "$tmp/bench.test" -pgo="$(test -f cmd/auditlkm/default.pgo && echo cmd/auditlkm/default.pgo || echo off)" ./internal/bench/

echo "replay: BenchmarkReplayHeavy, 20 passes" >&2
(cd internal/bench && "$tmp/bench.test" -test.run '^$' -test.bench 'ReplayHeavy/auditlkm/replay$' \
	-test.benchtime 20x -test.cpu 1 -test.cpuprofile "$tmp/replay.pprof" >/dev/null)

echo "daemon: module loads and file writes under loadgen" >&2
port=$((20000 + RANDOM % 20000))
"$tmp/auditlkm" run --output.alerts "$tmp/alerts.json" --output.records "$tmp/records.log" \
	--state.dir "$tmp/state" --web.listen-address "127.0.0.1:$port" \
	--debug.cpu-profile "$tmp/daemon.pprof" 2>"$tmp/auditlkm.log" &
daemon_pid=$!
for _ in $(seq 1 100); do grep -q "auditlkm started" "$tmp/auditlkm.log" && break; sleep 0.1; done
grep -q "auditlkm started" "$tmp/auditlkm.log" || { cat "$tmp/auditlkm.log" >&2; exit 1; }
"$tmp/loadgen" -mode module -rate 30000 -duration 20s -workers 2 >/dev/null
"$tmp/loadgen" -mode module -rate 5000 -duration 20s -workers 2 >/dev/null
"$tmp/loadgen" -mode files -rate 5000 -duration 20s -workers 2 -dir "$watchdir" >/dev/null
sleep 2
kill -TERM "$daemon_pid"
wait "$daemon_pid" || { cat "$tmp/auditlkm.log" >&2; exit 1; }
daemon_pid=""

go tool pprof -proto "$tmp/replay.pprof" "$tmp/daemon.pprof" >"$tmp/default.pgo" 2>/dev/null
mv "$tmp/default.pgo" "$out"
echo "wrote $out ($(stat -c %s "$out") bytes)" >&2
