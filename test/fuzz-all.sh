#!/usr/bin/env bash
# fuzz-all.sh: a short run of every fuzz target of the module (`make fuzz`).
#
#   test/fuzz-all.sh [FUZZTIME [PACKAGE...]]
#
# FUZZTIME is per target (default 30s); the packages default to ./... .
# Targets are found with `go test -list '^Fuzz'` in every package, so a new
# one is fuzzed without being listed here. A target fails when its run fails
# and wrote a failing input under its package's testdata/fuzz/TARGET/ (the
# input and how to re-run it are printed). A run that fails without writing
# one is retried once: Go's fuzzing engine can end with "context deadline
# exceeded" when -fuzztime runs out while a worker is in the middle of an
# input (golang/go#56238 and its kin), with no input to blame. Failing twice
# without an input fails too, and so does a package whose tests do not
# build. Exit status: 0 when every target passed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
shift || true
[ $# -gt 0 ] || set -- ./...
go=${GO:-go}
failed=() flaked=() n=0

# inputs DIR lists the failing inputs saved in DIR (none: nothing).
inputs() { [ -d "$1" ] && find "$1" -type f | sort || true; }

while read -r pkg dir; do
	if ! list=$("$go" test -list '^Fuzz' "$pkg" </dev/null); then
		echo "FAIL $pkg: its tests do not build" >&2
		failed+=("$pkg")
		continue
	fi
	for target in $(grep '^Fuzz' <<<"$list" || true); do
		n=$((n + 1))
		saved="$dir/testdata/fuzz/$target"
		for attempt in 1 2; do
			before=$(inputs "$saved")
			echo "== $pkg $target (attempt $attempt)"
			if "$go" test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" -fuzzminimizetime 50x "$pkg" </dev/null; then
				break
			fi
			new=$(comm -13 <(echo "$before") <(inputs "$saved"))
			if [ -n "$new" ]; then
				echo "FAIL $pkg $target: failing input $new (re-run: go test -run '$target/$(basename "$new")' $pkg)" >&2
				failed+=("$pkg $target")
				break
			fi
			if [ "$attempt" = 2 ]; then
				echo "FAIL $pkg $target: failed twice without writing a failing input" >&2
				failed+=("$pkg $target")
			else
				echo "$pkg $target: failed without writing a failing input (the engine's end-of-run flake?): retrying" >&2
				flaked+=("$pkg $target")
			fi
		done
	done
done < <("$go" list -f '{{.ImportPath}} {{.Dir}}' "$@")
echo "fuzz: $n targets, ${#failed[@]} failures (a target, or a package whose tests do not build), ${#flaked[@]} retried after a failure without an input"
[ ${#failed[@]} = 0 ]
