package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"reflect"
	"runtime"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/ecs"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/output"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// TestDefaultPGONamesTheHotPath checks that default.pgo, the profile `go
// build` optimizes auditlkm with, still profiles the functions that replay
// and the daemon spend their time under: when one of them is renamed or
// moved, the profile no longer guides its compilation and must be
// regenerated with test/pgo-profile.sh. A pprof profile is a gzipped
// protobuf whose string table holds each function's full name.
func TestDefaultPGONamesTheHotPath(t *testing.T) {
	f, err := os.Open("default.pgo")
	if err != nil {
		t.Fatalf("open the PGO profile: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("default.pgo is not a gzipped pprof profile: %v", err)
	}
	prof, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("read default.pgo: %v", err)
	}
	hot := []any{
		(*logfile.Reader).NextBatch,       // replay: reading lines
		auditevent.ParseLineArena,         // replay: parsing them
		auditevent.ParseNetlinkArena,      // daemon: parsing netlink messages
		(*reassemble.Reassembler).Push,    // both: reassembly
		auditevent.BuildInterned,          // both: decoding events
		(*correlate.Store).Observe,        // both: correlation
		(*detections.Evaluator).Evaluate,  // both: detections
		(*ecs.Encoder).AppendAlert,        // both: ECS alerts
		(*output.Fanout).WriteAlert,       // both: writing them
		(*output.Fanout).WriteLine,        // both: the raw log's lines
		(*correlate.Store).AppendAncestry, // both: an alert's ancestry
	}
	for _, fn := range hot {
		name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
		if !bytes.Contains(prof, []byte(name)) {
			t.Errorf("default.pgo does not profile %s: regenerate it with test/pgo-profile.sh", name)
		}
	}
}
