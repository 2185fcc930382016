package config

import (
	"errors"
	"testing"
)

// FuzzParse: Parse and Apply never panic; Parse returns a file xor an
// error, and every error is a positioned *Error.
func FuzzParse(f *testing.F) {
	fs, _ := newTestFlags()
	f.Add([]byte(Default(fs)))
	f.Add([]byte("audit:\n  mode: unicast\n  backlog_limit: 5\nwatch:\n  extra: [a, b]\n"))
	f.Add([]byte("detections:\n  exclusions:\n    lkm-config-file-creation:\n      - reason: x\n        exe: [/bin/x]\nwatches:\n  - path: /x\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Add([]byte("--- \n...\n---\n"))
	f.Add([]byte("a:\n  b:\n    c:\n      d: {e: [f, {g: h}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := Parse("f.yml", data)
		if (cf == nil) == (err == nil) {
			t.Fatalf("Parse returned file %v and error %v", cf, err)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "f.yml" {
				t.Fatalf("error %v is not a *Error for f.yml", err)
			}
			return
		}
		fs, _ := newTestFlags()
		if err := cf.Apply(fs); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Apply error %v is not a *Error", err)
			}
		}
	})
}
