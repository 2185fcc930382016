package logfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// FuzzReader feeds arbitrary bytes as one input. The Reader must not panic,
// every record must have text, and at EOF every line must be accounted for
// exactly once: Lines = Records + Blank + Skipped. For input that is not
// gzip, Lines must also equal the number of newline-terminated lines plus a
// final unterminated one, and the records, all kept to the end (they alias
// the Reader's chunks), must be those ParseLine makes of the lines.
func FuzzReader(f *testing.F) {
	seeds := []string{
		"",
		"\n",
		"type=EOE msg=audit(1700000000.001:1): \n",
		"node=h type=SYSCALL msg=audit(1.2:3): a=1\x1dARCH=x86_64\r\n",
		"type=UNKNOWN[1329] msg=g\x05\ntype=EOE msg=audit(1.2:3): ",
		"\x00\xff\n\n\r\ntype=\n",
		"\x1f\x8b\x08\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint16(0), uint16(0))
		f.Add([]byte(s), uint16(8), uint16(16))
	}
	if corpus, err := readCorpusBytes(); err == nil {
		f.Add(corpus[:4096], uint16(300), uint16(64))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxLine, bufSize uint16) {
		cfg := DefaultConfig()
		if maxLine != 0 {
			cfg.MaxLineBytes = int(maxLine)
		}
		if bufSize >= MinBufferBytes {
			cfg.BufferBytes = int(bufSize)
		}
		var skips uint64
		cfg.OnSkip = func(string, int, error) { skips++ }
		r, err := Open(cfg, []string{"-"}, bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var records uint64
		var got []auditevent.Record
		for {
			rec, err := r.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if !bytes.HasPrefix(data, gzipMagic[:]) {
					t.Fatalf("error on plain input: %v", err)
				}
				return // a corrupt gzip stream is an error, not a panic
			}
			if len(rec.Text) == 0 {
				t.Fatal("record with empty text")
			}
			records++
			got = append(got, rec)
		}
		p := r.Progress()
		if p.Records != records || p.Skipped.Total() != skips {
			t.Fatalf("progress %+v, saw %d records %d skips", p, records, skips)
		}
		if p.Records+p.Skipped.Total()+p.Blank != p.Lines {
			t.Fatalf("lines not accounted for: %+v", p)
		}
		if !bytes.HasPrefix(data, gzipMagic[:]) {
			want := uint64(bytes.Count(data, []byte("\n")))
			if len(data) > 0 && data[len(data)-1] != '\n' {
				want++
			}
			if p.Lines != want || p.BytesRead != int64(len(data)) {
				t.Fatalf("lines %d bytes %d, want %d and %d", p.Lines, p.BytesRead, want, len(data))
			}
			wantRecs, _ := expectRecords(data, cfg)
			if d := sameRecords(got, wantRecs); d != "" {
				t.Fatal(d)
			}
		}
	})
}

// FuzzNextBatchFromAFile reads the input as a regular file in batches
// (which, from a file, are not cut where the read buffer ends): the
// records are those ParseLine makes of the lines, in order, none lost or
// twice, in batches of 1 to maxBatch.
func FuzzNextBatchFromAFile(f *testing.F) {
	f.Add([]byte("type=EOE msg=audit(1700000000.001:1): \ntype=EOE msg=audit(1700000000.001:2): \n"), uint16(16))
	f.Add([]byte("\n\nx\ntype=EOE msg=audit(1.2:3): "), uint16(40))
	if corpus, err := readCorpusBytes(); err == nil {
		f.Add(corpus[:8192], uint16(64))
	}
	f.Fuzz(func(t *testing.T, data []byte, bufSize uint16) {
		if bytes.HasPrefix(data, gzipMagic[:]) {
			return // FuzzReader covers gzip
		}
		path := filepath.Join(t.TempDir(), "audit.log")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.MaxLineBytes = 512
		if bufSize >= MinBufferBytes {
			cfg.BufferBytes = int(bufSize)
		}
		var got []auditevent.Record
		for _, b := range fileBatches(t, cfg, path) {
			if len(b) == 0 || len(b) > maxBatch {
				t.Fatalf("batch of %d records", len(b))
			}
			got = append(got, b...)
		}
		want, _ := expectRecords(data, cfg)
		if d := sameRecords(got, want); d != "" {
			t.Fatal(d)
		}
	})
}
