#!/usr/bin/env bash
# bench-ratios.sh: auditlkm against go-libaudit v2 on the heavy corpus
# (testdata/corpus/perf-finit-rename-1m.log.gz, 1 M records), on
# one core, as ratios measured within one run (the machine may be shared:
# compare nothing across runs).
#
#   test/bench-ratios.sh [COUNT]
#
# 1. BenchmarkReplayHeavy -cpu 1 -benchtime 2x (a first pass warms the heap,
#    the figures are of the next two), COUNT rounds (default 3):
#    the sub-benchmarks run one after the other in each round, so every
#    round compares them on the same bytes at nearly the same time, by
#    CPU time (user+sys of the process, GC included: waiting for a core on
#    a shared machine does not count) and by elapsed time. Per
#    round it prints auditlkm's whole replay path (parse, reassemble, correlate,
#    detections, ECS alerts with records) and auditlkm's parse+reassemble
#    over go-libaudit's cmd/auparse as it runs with `-in FILE -out
#    /dev/null` (ParseLogLine, Reassembler, its text output unbuffered to
#    /dev/null; the issue's yardstick), and over go-libaudit's bare
#    parse+reassemble (auparse.ParseLogLine, which parses only the header,
#    + Reassembler, no output: a floor no consumer reaches, since reading
#    any field parses them all) and the same with every record's fields
#    parsed (Data).
# 2. The binaries, COUNT interleaved rounds, each pinned to one core
#    (taskset): `auditlkm replay FILE --output.alerts /dev/null` against
#    go-libaudit's own `cmd/auparse -in FILE -out /dev/null`, by CPU time
#    (user+sys) and by elapsed time. A binary starts cold: its heap grows
#    from nothing, and each page it touches first costs a fault (sys time),
#    which the benchmark's warmed passes do not pay.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# go test -count runs each sub-benchmark COUNT times in a row: to
# interleave them, the test binary runs once per round.
go test -c -o "$tmp/bench.test" ./internal/bench/
for round in $(seq 1 "$count"); do
	(cd internal/bench && "$tmp/bench.test" -test.run '^$' -test.benchtime 2x -test.cpu 1 \
		-test.bench 'ReplayHeavy/^(auditlkm|go-libaudit)$/^(replay|parse\+reassemble(\+fields)?|cmd-auparse)$') |
		tee -a "$tmp/bench.txt" | grep '^BenchmarkReplayHeavy/' | awk -v round="$round" '{
			printf "  %s", $1
			for (i = 2; i < NF; i++) if ($(i+1) ~ /^(records\/s|cpu-ns\/record|alerts\/op|events\/op)$/) printf " %s %s", $i, $(i+1)
			printf "\n" }'
	grep '^BenchmarkReplayHeavy/' "$tmp/bench.txt" | tail -n 5 |
	awk -v round="$round" '
	# rate: records per CPU second (cpu-ns/record), records per second.
	/^BenchmarkReplayHeavy\// {
		name = $1; sub(/^BenchmarkReplayHeavy\//, "", name)
		for (i = 2; i < NF; i++) {
			if ($(i+1) == "cpu-ns/record") cpu[name] = 1e9 / $i
			if ($(i+1) == "records/s") wall[name] = $i
		}
		if (name == "go-libaudit/parse+reassemble+fields") {
			r = "auditlkm/replay"; p = "auditlkm/parse+reassemble"; l = "go-libaudit/parse+reassemble"; c = "go-libaudit/cmd-auparse"
			printf "round %d: records per CPU second: auditlkm replay %.2f M, auditlkm parse+reassemble %.2f M; go-libaudit cmd/auparse %.2f M, parse+reassemble %.2f M, +fields %.3f M\n",
				round, cpu[r] / 1e6, cpu[p] / 1e6, cpu[c] / 1e6, cpu[l] / 1e6, cpu[name] / 1e6
			printf "round %d: by CPU: replay / go-libaudit cmd/auparse %.2fx (target 1.2x); auditlkm parse+reassemble / cmd/auparse %.2fx (target 3x); against go-libaudit in-process parse+reassemble: header only %.2fx (replay) %.2fx (parse+reassemble), +fields %.1fx %.1fx\n",
				round, cpu[r] / cpu[c], cpu[p] / cpu[c], cpu[r] / cpu[l], cpu[p] / cpu[l], cpu[r] / cpu[name], cpu[p] / cpu[name]
			printf "round %d: by elapsed: replay %.2f M records/s (target 1 M); replay / cmd/auparse %.2fx, parse+reassemble / cmd/auparse %.2fx\n",
				round, wall[r] / 1e6, wall[r] / wall[c], wall[p] / wall[c]
		}
	}'
done

go build -o "$tmp/auditlkm" ./cmd/auditlkm
go build -o "$tmp/auparse" github.com/elastic/go-libaudit/v2/cmd/auparse
gzip -dc testdata/corpus/perf-finit-rename-1m.log.gz >"$tmp/heavy.log"
# One core: both binaries pinned to one CPU (the Go runtime then runs one
# P), the last one, as the issue's "on one core".
core=$(($(nproc) - 1))
for round in $(seq 1 "$count"); do
	TIMEFORMAT='%U %S %R'
	{ time taskset -c "$core" "$tmp/auparse" -in "$tmp/heavy.log" -out /dev/null 2>/dev/null; } 2>"$tmp/t.auparse"
	{ time taskset -c "$core" "$tmp/auditlkm" replay "$tmp/heavy.log" --output.alerts /dev/null >/dev/null 2>&1; } 2>"$tmp/t.auditlkm"
	read -r au as ae <"$tmp/t.auparse"
	read -r lu ls le <"$tmp/t.auditlkm"
	awk -v r="$round" -v au="$au" -v as="$as" -v ae="$ae" -v lu="$lu" -v ls="$ls" -v le="$le" 'BEGIN {
		printf "binaries round %d, one core: cmd/auparse cpu %.2fs (%.2fs elapsed), auditlkm replay cpu %.2fs (user %.2fs, sys %.2fs; %.2fs elapsed): auditlkm %.2fx faster by cpu, %.2fx by elapsed; auditlkm %.2f M records/s elapsed\n",
			r, au+as, ae, lu+ls, lu, ls, le, (au+as)/(lu+ls), ae/le, 1.000001/le }'
done
