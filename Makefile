# Make targets for auditlkm. The test target is what CI runs.
GO ?= go

.PHONY: build test test-kernel lint fuzz golden

build:
	$(GO) build -o auditlkm ./cmd/auditlkm

# The whole suite, as root, kernel tests required (CI runs this).
test:
	./test/run-all.sh

# Only the real-kernel tests.
test-kernel:
	AUDITLKM_REQUIRE_KERNEL=1 $(GO) test -count=1 ./internal/netlink/... ./internal/kerneltest/... ./internal/auditrules/... ./test/...

lint:
	test -z "$$(gofmt -l .)"
	$(GO) vet ./...

# A short run of every fuzz target.
fuzz:
	for pkg in ./internal/auditevent ./internal/reassemble ./internal/logfile ./internal/auditrules ./internal/ecs ./internal/correlate ./internal/toolargs ./internal/provenance; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 30s $$pkg || exit 1; \
		done; \
	done

# Regenerate golden files after checking a change in output is intended.
golden:
	$(GO) test ./test/ -run TestReplayGolden -update
	$(GO) test ./internal/ecs/ -update
