package ecs

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

const (
	corpusDir = "../../testdata/corpus"
	fieldsCSV = "../../testdata/ecs/fields.csv"
)

var testHost = Host{
	Hostname: "vm",
	ID:       "4f1c8a2e9b7d4c1fa3e6b0d2c5a79e18",
	OSType:   "linux",
	OSFamily: "debian",
	OSKernel: "6.1.0-18-amd64",
	Arch:     "x86_64",
}

var (
	defLoad = &detections.Definition{
		ID:          "lkm-load-syscall",
		Name:        "Kernel module load",
		Description: "A process called init_module or finit_module.",
		Severity:    detections.High,
		RiskScore:   73,
		Threat:      detections.T1547006,
		Covers:      []string{"E1", "S2"},
	}
	defConfig = &detections.Definition{
		ID:          "lkm-config-file-write",
		Name:        "Kernel module configuration file written",
		Description: "A file under modprobe.d or modules-load.d was created or changed.",
		Severity:    detections.Medium,
		RiskScore:   47,
		Threat:      detections.T1547006,
		Covers:      []string{"E9"},
	}
)

// readEvent parses an audit.log snippet (lines starting with '#' and
// blank lines are skipped) and builds one event from its records.
func readEvent(t testing.TB, path string, how auditevent.Completion) *auditevent.Event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read input: %v", err)
	}
	var recs []auditevent.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, auditevent.MaxRecordLen+1024)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		r, err := auditevent.ParseLine(line)
		if err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan %s: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s: no records", path)
	}
	return auditevent.Build(recs, how)
}

func loadAlert(ev *auditevent.Event, parent *auditevent.Process) *detections.Alert {
	a := &detections.Alert{
		Rule: defLoad, Event: ev, Severity: detections.High, RiskScore: 73,
		Category: []string{"driver"}, Type: []string{"start"},
		Action:  "loaded-kernel-module",
		Process: ev.Process(), Parent: parent,
	}
	if ev.Syscall.Success == auditevent.SuccessNo {
		a.Severity, a.RiskScore = detections.Medium, 47
		a.Action = "kernel-module-load-failed"
	}
	a.Reason = a.Process.Name() + " called " + ev.Syscall.Name
	if ev.HasModule {
		a.Reason += " for module " + ev.Module
	}
	return a
}

func fileAlert(ev *auditevent.Event, parent *auditevent.Process) *detections.Alert {
	var f *detections.File
	for _, p := range ev.Paths {
		if p.Nametype == "CREATE" {
			f = &detections.File{Path: p.Resolved}
		}
	}
	for _, p := range ev.Paths {
		if p.Nametype == "DELETE" && f != nil {
			f.OriginalPath = p.Resolved
		}
	}
	return &detections.Alert{
		Rule: defConfig, Event: ev, Severity: detections.Medium, RiskScore: 47,
		Category: []string{"file", "configuration"}, Type: []string{"creation", "change"},
		Action:  "kernel-module-config-written",
		Reason:  "modprobe configuration file " + f.Path + " written",
		Process: ev.Process(), Parent: parent, File: f,
	}
}

var bashParent = &auditevent.Process{
	PID: 4120, PPID: 4101, Exe: "/usr/bin/bash", Comm: "bash",
	Args: []string{"-bash"}, Cwd: "/root", UID: 0, AUID: 1000,
	StartMilli: 1712745500123,
}

type goldenCase struct {
	name  string
	input string // an audit.log snippet
	alert func(*auditevent.Event) *detections.Alert
}

var goldenCases = []goldenCase{
	{
		name:  "rhel7-modprobe-init_module",
		input: filepath.Join(corpusDir, "rhel7-modprobe-init_module.log"),
		alert: func(ev *auditevent.Event) *detections.Alert { return loadAlert(ev, nil) },
	},
	{
		name:  "ubuntu2204-insmod-finit_module",
		input: "testdata/ubuntu2204-insmod-finit_module.log",
		alert: func(ev *auditevent.Event) *detections.Alert { return loadAlert(ev, bashParent) },
	},
	{
		name:  "debian12-modprobe-d-openat-create",
		input: "testdata/debian12-modprobe-d-openat-create.log",
		alert: func(ev *auditevent.Event) *detections.Alert { return fileAlert(ev, bashParent) },
	},
	{
		name:  "rhel9-mv-rename-modprobe-d",
		input: "testdata/rhel9-mv-rename-modprobe-d.log",
		alert: func(ev *auditevent.Event) *detections.Alert { return fileAlert(ev, nil) },
	},
	{
		name:  "hostile-init_module-names",
		input: "testdata/hostile-init_module-names.log",
		alert: func(ev *auditevent.Event) *detections.Alert { return loadAlert(ev, nil) },
	},
}

func newTestEncoder(t testing.TB, w *bytes.Buffer) *Encoder {
	t.Helper()
	e, err := NewEncoder(w, testHost, DefaultConfig())
	if err != nil {
		t.Fatalf("new encoder: %v", err)
	}
	e.now = func() time.Time { return time.Date(2024, 4, 10, 12, 0, 0, 0, time.UTC) }
	return e
}

// goldenOutput encodes one case with WriteAlert.
func goldenOutput(t *testing.T, c goldenCase) []byte {
	t.Helper()
	ev := readEvent(t, c.input, auditevent.CompleteIdle)
	var out bytes.Buffer
	if err := newTestEncoder(t, &out).WriteAlert(c.alert(ev)); err != nil {
		t.Fatalf("write alert: %v", err)
	}
	return out.Bytes()
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			got := goldenOutput(t, c)
			if bytes.Count(got, []byte("\n")) != 1 || got[len(got)-1] != '\n' {
				t.Fatalf("output is not exactly one line: %q", got)
			}
			if !json.Valid(got) {
				t.Fatalf("output is not valid JSON: %s", got)
			}
			path := filepath.Join("testdata", c.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatalf("update golden: %v", err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update after checking)\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}

// decode parses one document with numbers kept exact.
func decode(t testing.TB, line []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
	if d.More() {
		t.Fatalf("trailing data after the document: %s", line)
	}
	return m
}

// get returns the value at a dotted path; array elements are addressed by
// their index as a segment.
func get(doc map[string]any, dotted string) (any, bool) {
	var cur any = doc
	for _, seg := range strings.Split(dotted, ".") {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i := 0
			for _, c := range seg {
				if c < '0' || c > '9' {
					return nil, false
				}
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// exact reconstructs the original bytes of a string field with the
// auditd.lossy_* scheme.
func exact(t testing.TB, doc map[string]any, dotted string) string {
	t.Helper()
	v, ok := get(doc, dotted)
	if !ok {
		t.Fatalf("field %s missing", dotted)
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("field %s is %T, not a string", dotted, v)
	}
	lf, _ := get(doc, "auditd.lossy_fields")
	names, _ := lf.([]any)
	listed := false
	for _, n := range names {
		if n == dotted {
			listed = true
		}
	}
	hx, hasHex := get(doc, "auditd.lossy_hex")
	var h any
	if hasHex {
		h, hasHex = hx.(map[string]any)[dotted]
	}
	if listed != hasHex {
		t.Fatalf("field %s: in lossy_fields=%v but in lossy_hex=%v", dotted, listed, hasHex)
	}
	if !listed {
		return s
	}
	raw, err := hex.DecodeString(h.(string))
	if err != nil {
		t.Fatalf("lossy_hex[%s]: %v", dotted, err)
	}
	if strings.ToValidUTF8(string(raw), "") == string(raw) {
		t.Errorf("field %s listed as lossy but its bytes are valid UTF-8", dotted)
	}
	return string(raw)
}

func TestHostileNamesRoundTrip(t *testing.T) {
	cases := []struct {
		name, value string
	}{
		{"a newline ends no line", "/etc/modprobe.d/a\nb.conf"},
		{"quotes are escaped", `/etc/modprobe.d/"x".conf`},
		{"backslashes are escaped", `/etc/modprobe.d/a\b\\c.conf`},
		{"NUL is escaped", "/etc/modprobe.d/a\x00b.conf"},
		{"ESC and other controls are escaped", "/etc/modprobe.d/\x1b[31mred\x07\x7f.conf"},
		{"invalid UTF-8 is replaced and kept in hex", "/etc/modprobe.d/\xff\xfe.conf"},
		{"a truncated multibyte sequence is invalid", "/etc/modprobe.d/caf\xc3"},
		{"encoded surrogates are invalid", "/etc/modprobe.d/\xed\xa0\x80.conf"},
		{"valid multibyte UTF-8 is exact", "/etc/modprobe.d/ünïcödé-日本-🙂.conf"},
		{"a genuine U+FFFD is exact and not lossy", "/etc/modprobe.d/\ufffd.conf"},
		{"line and paragraph separators are escaped", "/etc/modprobe.d/\u2028\u2029.conf"},
		{"everything at once", "/tmp/\n\"\\\x00\x1b\xff\xfe\xc3\xa9\u2028"},
	}
	rec, err := auditevent.ParseLine([]byte(`type=SYSCALL msg=audit(1712745722.018:2903): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=1 a2=241 a3=1b6 items=1 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="/x" key=(null)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rec
			r.Node = c.value
			ev := auditevent.Build([]auditevent.Record{r}, auditevent.CompleteEOE)
			ev.HasModule, ev.Module = true, c.value
			a := &detections.Alert{
				Rule: defConfig, Event: ev, Reason: c.value,
				Process: auditevent.Process{PID: 77, Exe: c.value, Args: []string{c.value, "--", c.value}, Cwd: c.value},
				Parent:  &auditevent.Process{PID: 1, Exe: c.value, Args: []string{c.value}},
				File:    &detections.File{Path: c.value, OriginalPath: c.value},
			}
			var out bytes.Buffer
			if err := newTestEncoder(t, &out).WriteAlert(a); err != nil {
				t.Fatal(err)
			}
			line := out.Bytes()
			if bytes.IndexByte(line[:len(line)-1], '\n') >= 0 || !json.Valid(line) {
				t.Fatalf("not one valid JSON line: %q", line)
			}
			doc := decode(t, line)
			fields := map[string]string{
				"file.path":                 c.value,
				"process.executable":        c.value,
				"process.working_directory": c.value,
				"process.args.0":            c.value,
				"process.args.2":            c.value,
				"process.command_line":      c.value + " -- " + c.value,
				"process.parent.executable": c.value,
				"process.parent.args.0":     c.value,
				"event.reason":              c.value,
				"auditd.data.name":          c.value,
				"auditd.node":               c.value,
				"auditd.file.original_path": c.value,
				"auditd.records.0":          r.Line(),
			}
			for name, want := range fields {
				if got := exact(t, doc, name); got != want {
					t.Errorf("%s: reconstructed %q, want %q", name, got, want)
				}
			}
			_, name := splitPath(c.value)
			if got := exact(t, doc, "file.name"); got != name {
				t.Errorf("file.name: reconstructed %q, want %q", got, name)
			}
		})
	}
}

func TestRecordsAreRenderedAsRecordLine(t *testing.T) {
	ev := readEvent(t, "testdata/rhel9-mv-rename-modprobe-d.log", auditevent.CompleteIdle)
	var out bytes.Buffer
	if err := newTestEncoder(t, &out).WriteAlert(fileAlert(ev, nil)); err != nil {
		t.Fatal(err)
	}
	doc := decode(t, out.Bytes())
	v, _ := get(doc, "auditd.records")
	got, _ := v.([]any)
	if len(got) != len(ev.Records) {
		t.Fatalf("%d records emitted, want %d", len(got), len(ev.Records))
	}
	for i := range ev.Records {
		if got[i] != ev.Records[i].Line() {
			t.Errorf("record %d: %q, want %q", i, got[i], ev.Records[i].Line())
		}
	}
}

func TestIncludeRecordsFalseLeavesRecordsOut(t *testing.T) {
	ev := readEvent(t, "testdata/ubuntu2204-insmod-finit_module.log", auditevent.CompleteIdle)
	var out bytes.Buffer
	e, err := NewEncoder(&out, testHost, Config{IncludeRecords: false})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteAlert(loadAlert(ev, nil)); err != nil {
		t.Fatal(err)
	}
	doc := decode(t, out.Bytes())
	if _, ok := get(doc, "auditd.records"); ok {
		t.Error("auditd.records present with IncludeRecords false")
	}
	if v, _ := get(doc, "auditd.data.name"); v != "diamorphine" {
		t.Errorf("auditd.data.name = %v", v)
	}
}

func TestBoundsCutAndListTruncatedFields(t *testing.T) {
	long := strings.Repeat("A", MaxStringBytes+100)
	args := make([]string, MaxArrayLen+10)
	for i := range args {
		args[i] = "x"
	}
	args[0] = long
	ev := readEvent(t, "testdata/ubuntu2204-insmod-finit_module.log", auditevent.CompleteIdle)
	a := loadAlert(ev, nil)
	a.Process.Args = args
	a.Process.Comm = long[:auditevent.CommLen] // the kernel's cut of the long name
	a.File = &detections.File{Path: "/" + long}
	var out bytes.Buffer
	if err := newTestEncoder(t, &out).WriteAlert(a); err != nil {
		t.Fatal(err)
	}
	doc := decode(t, out.Bytes())
	v, _ := get(doc, "auditd.truncated_fields")
	var names []string
	for _, n := range v.([]any) {
		names = append(names, n.(string))
	}
	want := "process.name process.args.0 process.args process.command_line file.path file.name"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("truncated_fields = %q, want %q", got, want)
	}
	if v, _ := get(doc, "process.args"); len(v.([]any)) != MaxArrayLen {
		t.Errorf("%d args emitted, want %d", len(v.([]any)), MaxArrayLen)
	}
	if v, _ := get(doc, "process.args_count"); v.(json.Number).String() != "266" {
		t.Errorf("args_count = %v, want the real count 266", v)
	}
	if v, _ := get(doc, "process.command_line"); len(v.(string)) != MaxStringBytes {
		t.Errorf("command_line has %d bytes, want %d", len(v.(string)), MaxStringBytes)
	}
}

func TestEventTimeOutOfRangeFallsBackToNow(t *testing.T) {
	r, err := auditevent.ParseLine([]byte(`type=KERN_MODULE msg=audit(999999999999.001:5): name="m"`))
	if err != nil {
		t.Fatal(err)
	}
	ev := auditevent.Build([]auditevent.Record{r}, auditevent.CompleteStandalone)
	var out bytes.Buffer
	if err := newTestEncoder(t, &out).WriteAlert(&detections.Alert{Rule: defLoad, Event: ev}); err != nil {
		t.Fatal(err)
	}
	doc := decode(t, out.Bytes())
	if v, _ := get(doc, "@timestamp"); v != "2024-04-10T12:00:00.000Z" {
		t.Errorf("@timestamp = %v", v)
	}
	if v, _ := get(doc, "auditd.warnings.0"); !strings.Contains(v.(string), "out of range") {
		t.Errorf("warning = %v", v)
	}
}

func TestMinimalAlertsEncode(t *testing.T) {
	cases := []struct {
		name  string
		alert *detections.Alert
	}{
		{"an alert without rule, event or process", &detections.Alert{}},
		{"an alert with an empty event", &detections.Alert{Event: &auditevent.Event{}}},
		{"an alert with a rule without threat", &detections.Alert{Rule: &detections.Definition{ID: "x"}}},
		{"an alert with a bad ATT&CK id", &detections.Alert{Rule: &detections.Definition{ID: "x", Threat: detections.Threat{TechniqueID: `T1"}`, SubtechniqueID: "T1547.006"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := newTestEncoder(t, &out).WriteAlert(c.alert); err != nil {
				t.Fatal(err)
			}
			if !json.Valid(out.Bytes()) {
				t.Fatalf("invalid JSON: %s", out.Bytes())
			}
			doc := decode(t, out.Bytes())
			if _, ok := get(doc, "user.id"); ok {
				t.Error("user.id emitted without a process")
			}
			if strings.Contains(out.String(), "{}") {
				t.Errorf("empty object in output: %s", out.Bytes())
			}
		})
	}
}

type countingWriter struct {
	writes int
	buf    bytes.Buffer
	n      int // bytes to accept per call, 0 = all
	err    error
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.err != nil {
		return 0, w.err
	}
	if w.n > 0 && len(p) > w.n {
		w.buf.Write(p[:w.n])
		return w.n, nil
	}
	return w.buf.Write(p)
}

func TestWriteAlertUsesOneWriteCallPerLine(t *testing.T) {
	w := &countingWriter{}
	e, err := NewEncoder(w, testHost, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range goldenCases[1:] {
		if err := e.WriteAlert(c.alert(readEvent(t, c.input, auditevent.CompleteIdle))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(goldenCases) - 1; w.writes != n || bytes.Count(w.buf.Bytes(), []byte("\n")) != n {
		t.Errorf("%d writes, %d lines, want %d of each", w.writes, bytes.Count(w.buf.Bytes(), []byte("\n")), n)
	}
}

func TestWriteAlertErrors(t *testing.T) {
	errDisk := errors.New("disk full")
	alert := &detections.Alert{Rule: defLoad}
	cases := []struct {
		name string
		w    *countingWriter
		a    *detections.Alert
		want error
	}{
		{"a writer error is returned wrapped", &countingWriter{err: errDisk}, alert, errDisk},
		{"a short write is an error", &countingWriter{n: 10}, alert, io.ErrShortWrite},
		{"a nil alert is refused", &countingWriter{}, nil, ErrNilAlert},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := NewEncoder(c.w, testHost, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			if err := e.WriteAlert(c.a); !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
		})
	}
	if _, err := NewEncoder(nil, testHost, DefaultConfig()); !errors.Is(err, ErrNilWriter) {
		t.Errorf("NewEncoder(nil): %v, want ErrNilWriter", err)
	}
}

func TestAppendAlertAppendsToDst(t *testing.T) {
	var out bytes.Buffer
	e := newTestEncoder(t, &out)
	ev := readEvent(t, "testdata/ubuntu2204-insmod-finit_module.log", auditevent.CompleteIdle)
	got := e.AppendAlert([]byte("prefix"), loadAlert(ev, nil))
	if !bytes.HasPrefix(got, []byte("prefix{")) || !json.Valid(got[len("prefix"):]) {
		t.Errorf("AppendAlert did not append one document: %.80s", got)
	}
	if got := e.AppendAlert([]byte("x"), nil); string(got) != "x" {
		t.Errorf("AppendAlert(nil) = %q", got)
	}
}

func FuzzAppendAlert(f *testing.F) {
	f.Add("/etc/modprobe.d/x.conf", "/usr/bin/kmod", "insmod", []byte(`type=KERN_MODULE msg=audit(1.002:3): name="m"`))
	f.Add("/tmp/\n\"\\\x00\xff", "\xfe\xed", "\x1b[0m\u2028", []byte("node=\xff type=PATH msg=audit(1.002:3): item=0 name=\"\xff\" nametype=CREATE"))
	f.Add("", "", "", []byte{})
	for _, c := range goldenCases[1:] {
		data, err := os.ReadFile(c.input)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(line) > 0 && line[0] != '#' {
				f.Add("/etc/modules-load.d/a.conf", "/bin/sh", "-c", line)
			}
		}
	}
	// One Encoder for every input, as in a run: what it remembers from
	// one alert must never show in another's document.
	e, err := NewEncoder(&bytes.Buffer{}, testHost, DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	fixed := func() time.Time { return time.Date(2024, 4, 10, 12, 0, 0, 0, time.UTC) }
	e.now = fixed
	f.Fuzz(func(t *testing.T, path, exe, arg string, line []byte) {
		var recs []auditevent.Record
		if r, err := auditevent.ParseLine(line); err == nil {
			recs = append(recs, r)
		}
		ev := auditevent.Build(recs, auditevent.CompleteEOE)
		a := &detections.Alert{
			Rule: defLoad, Event: ev, Reason: arg,
			Process: auditevent.Process{PID: 1, Exe: exe, Args: []string{exe, arg, path}},
			Parent:  &auditevent.Process{PID: 2, Args: []string{arg}},
			File:    &detections.File{Path: path, OriginalPath: arg},
		}
		out := e.AppendAlert(nil, a)
		fresh, err := NewEncoder(&bytes.Buffer{}, testHost, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		fresh.now = fixed
		if want := fresh.AppendAlert(nil, a); !bytes.Equal(out, want) {
			t.Fatalf("encoder used before wrote:\n%s\nfresh encoder:\n%s", out, want)
		}
		if bytes.IndexByte(out, '\n') >= 0 || bytes.IndexByte(out, '\r') >= 0 {
			t.Fatalf("raw line break in output: %q", out)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %q", out)
		}
		doc := decode(t, out)
		if path != "" && len(path) <= MaxStringBytes {
			if got := exact(t, doc, "file.path"); got != path {
				t.Fatalf("file.path reconstructed %q, want %q", got, path)
			}
		}
		if exe != "" && len(exe) <= MaxStringBytes {
			if got := exact(t, doc, "process.args.0"); got != exe {
				t.Fatalf("process.args.0 reconstructed %q, want %q", got, exe)
			}
		}
		if len(recs) == 1 {
			if got := exact(t, doc, "auditd.records.0"); got != recs[0].Line() {
				t.Fatalf("record reconstructed %q, want %q", got, recs[0].Line())
			}
		}
	})
}

func BenchmarkAppendAlert(b *testing.B) {
	for _, c := range goldenCases[1:] {
		b.Run(c.name, func(b *testing.B) {
			ev := readEvent(b, c.input, auditevent.CompleteIdle)
			a := c.alert(ev)
			e, err := NewEncoder(&bytes.Buffer{}, testHost, DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			buf := e.AppendAlert(nil, a)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				buf = e.AppendAlert(buf[:0], a)
			}
		})
	}
}

// TestURingOperationEncoding: an io_uring operation says so in
// auditd.data.uring_op beside the system call it stands for. A URINGOP
// record alone (the operation ran in an io_uring worker; recorded by the
// VM suite on Debian's 6.1) has no arch and no arguments, and none are
// written; beside a SYSCALL record (io_uring_enter, the operation ran
// inline) the system call's arch and arguments are kept.
func TestURingOperationEncoding(t *testing.T) {
	inline := []string{
		`type=SYSCALL msg=audit(1796425497.700:130): arch=c000003e syscall=426 success=yes exit=1 a0=3 a1=1 a2=1 a3=1 items=2 ppid=88 pid=180 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="uringfs" exe="/root/uringfs" subj=unconfined key=(null)`,
		`type=URINGOP msg=audit(1796425497.700:130): uring_op=18 success=yes exit=3 items=2 ppid=88 pid=180 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 subj=unconfined key="auditlkm-config"`,
	}
	var recs []auditevent.Record
	for _, l := range inline {
		r, err := auditevent.ParseLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	cases := []struct {
		name   string
		ev     *auditevent.Event
		want   map[string]string
		absent []string
	}{
		{"a URINGOP record alone", readEvent(t, "testdata/debian12-6.1-uring-renameat-modules-load-d.log", auditevent.CompleteIdle),
			map[string]string{"auditd.data.syscall": "renameat2", "auditd.data.uring_op": "renameat", "auditd.data.key": `["auditlkm-config"]`},
			[]string{"auditd.data.arch", "auditd.data.a0", "auditd.data.a3"}},
		{"a URINGOP record beside io_uring_enter's SYSCALL record", auditevent.Build(recs, auditevent.CompleteIdle),
			map[string]string{"auditd.data.syscall": "openat", "auditd.data.uring_op": "openat", "auditd.data.arch": "x86_64", "auditd.data.a0": "3"},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			a := &detections.Alert{Rule: defConfig, Event: c.ev, Process: c.ev.Process()}
			if err := newTestEncoder(t, &out).WriteAlert(a); err != nil {
				t.Fatal(err)
			}
			doc := decode(t, out.Bytes())
			for k, want := range c.want {
				v, _ := get(doc, k)
				got, ok := v.(string)
				if !ok {
					b, _ := json.Marshal(v)
					got = string(b)
				}
				if got != want {
					t.Errorf("%s = %s, want %s", k, got, want)
				}
			}
			for _, k := range c.absent {
				if v, ok := get(doc, k); ok {
					t.Errorf("%s = %v, want none", k, v)
				}
			}
		})
	}
}

// TestRememberedRuleBlocksEncodeAsFresh encodes alerts of more rules than
// an Encoder remembers (the golden alerts, and rules whose text is cut or
// not UTF-8, which are never remembered), round after round, with one
// Encoder: every line is the one a fresh Encoder writes for the alert.
func TestRememberedRuleBlocksEncodeAsFresh(t *testing.T) {
	var alerts []*detections.Alert
	for _, c := range goldenCases[1:] {
		alerts = append(alerts, c.alert(readEvent(t, c.input, auditevent.CompleteIdle)))
	}
	for i := range maxRuleBlocks + 3 {
		def := &detections.Definition{ID: fmt.Sprintf("rule-%d", i), Name: "r", Threat: detections.T1547006}
		switch i {
		case 3:
			def.Description = strings.Repeat("d", MaxStringBytes+1) // cut: noted
		case 4:
			def.Name = "bad \xff name" // replaced: noted
		case 5:
			def.Threat = detections.Threat{}
		}
		alerts = append(alerts, &detections.Alert{Rule: def, Event: &auditevent.Event{Sec: 1700000000}})
	}
	var shared bytes.Buffer
	e := newTestEncoder(t, &shared)
	for round := range 3 {
		for i, a := range alerts {
			writesAsFresh(t, e, &shared, a, fmt.Sprintf("round %d, alert %d", round, i))
		}
	}
}
