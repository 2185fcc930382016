#!/usr/bin/env bash
# bench-ratios.sh: auditlkm against go-libaudit v2 on the heavy corpus
# (internal/bench/testdata/perf-finit-rename-1m.log.gz, 1 M records), on
# one core, as ratios measured within one run (the machine may be shared:
# compare nothing across runs).
#
#   test/bench-ratios.sh [COUNT]
#
# 1. go test BenchmarkReplayHeavy -cpu 1 -count COUNT (default 3): the
#    sub-benchmarks run one after the other in each round, so every round
#    compares them on the same bytes at nearly the same time. Per round it
#    prints auditlkm's whole replay path (parse, reassemble, correlate,
#    detections, ECS alerts with records) and auditlkm's parse+reassemble
#    over go-libaudit's parse+reassemble (auparse.ParseLogLine, which
#    parses only the header, + Reassembler) and over the same with every
#    record's fields parsed (Data).
# 2. The binaries, COUNT interleaved rounds: `auditlkm replay FILE
#    --output.alerts /dev/null` against go-libaudit's own `cmd/auparse -in
#    FILE -out /dev/null`, by CPU time (user+sys) and by elapsed time.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go test -run '^$' -bench 'ReplayHeavy/(auditlkm/|go-libaudit/parse\+reassemble(\+fields)?$)' \
	-benchtime 2x -count "$count" -cpu 1 ./internal/bench/ | tee "$tmp/bench.txt" |
	awk '
	/^BenchmarkReplayHeavy\// {
		name = $1; sub(/^BenchmarkReplayHeavy\//, "", name)
		for (i = 2; i < NF; i++) if ($(i+1) == "records/s") rs[name] = $i
		if (name == "go-libaudit/parse+reassemble+fields") {
			round++
			printf "round %d: records/s: replay %.0f, auditlkm parse+reassemble %.0f, go-libaudit parse+reassemble %.0f (+fields %.0f)\n", round,
				rs["auditlkm/replay"], rs["auditlkm/parse+reassemble"], rs["go-libaudit/parse+reassemble"], rs[name]
			printf "round %d: replay / go-libaudit parse+reassemble %.2fx (target 1.2x), / +fields %.2fx\n", round,
				rs["auditlkm/replay"] / rs["go-libaudit/parse+reassemble"], rs["auditlkm/replay"] / rs[name]
			printf "round %d: auditlkm parse+reassemble / go-libaudit parse+reassemble %.2fx (target 3x), / +fields %.2fx\n", round,
				rs["auditlkm/parse+reassemble"] / rs["go-libaudit/parse+reassemble"], rs["auditlkm/parse+reassemble"] / rs[name]
		}
	}'

go build -o "$tmp/auditlkm" ./cmd/auditlkm
go build -o "$tmp/auparse" github.com/elastic/go-libaudit/v2/cmd/auparse
gzip -dc internal/bench/testdata/perf-finit-rename-1m.log.gz >"$tmp/heavy.log"
for round in $(seq 1 "$count"); do
	TIMEFORMAT='%U %S %R'
	{ time "$tmp/auparse" -in "$tmp/heavy.log" -out /dev/null 2>/dev/null; } 2>"$tmp/t.auparse"
	{ time "$tmp/auditlkm" replay "$tmp/heavy.log" --output.alerts /dev/null >/dev/null 2>&1; } 2>"$tmp/t.auditlkm"
	read -r au as ae <"$tmp/t.auparse"
	read -r lu ls le <"$tmp/t.auditlkm"
	awk -v r="$round" -v au="$au" -v as="$as" -v ae="$ae" -v lu="$lu" -v ls="$ls" -v le="$le" 'BEGIN {
		printf "binaries round %d: cmd/auparse cpu %.2fs (%.2fs elapsed), auditlkm replay cpu %.2fs (%.2fs elapsed): auditlkm %.2fx faster by cpu, %.2fx by elapsed; auditlkm %.2f M records/s of cpu\n",
			r, au+as, ae, lu+ls, le, (au+as)/(lu+ls), ae/le, 1.000001/(lu+ls) }'
done
