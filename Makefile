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

# A short run of every fuzz target (test/fuzz-all.sh finds them; FUZZTIME per target).
FUZZTIME ?= 30s
fuzz:
	GO=$(GO) ./test/fuzz-all.sh $(FUZZTIME)

# Regenerate golden files after checking a change in output is intended.
golden:
	$(GO) test ./test/ -run TestReplayGolden -update
	$(GO) test ./internal/ecs/ -update
