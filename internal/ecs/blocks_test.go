package ecs

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
)

// stormAlert is a files-storm alert: its process with a parent and a
// chain of ancestors up to init.
func stormAlert(t testing.TB) *detections.Alert {
	t.Helper()
	ev := readEvent(t, "testdata/debian12-modprobe-d-openat-create.log", auditevent.CompleteIdle)
	a := fileAlert(ev, &auditevent.Process{
		PID: 4120, PPID: 4101, Exe: "/usr/bin/bash", Comm: "bash",
		Args: []string{"bash", "-c", "for i in $(seq 1 100000); do touch /etc/modprobe.d/$i.conf; done"},
		Cwd:  "/root", UID: 0, AUID: 1000, StartMilli: 1712745500123,
	})
	a.Process.Args = append([]string(nil), a.Process.Args...)
	for i := range 7 {
		pid := 4120 - 19*i
		a.Ancestors = append(a.Ancestors, auditevent.Process{
			PID: pid, PPID: pid - 19, Exe: "/usr/bin/bash", Comm: "bash",
			Args: []string{"bash", "-l"}, StartMilli: 1712745500123 - int64(1000*i),
		})
	}
	a.Ancestors = append(a.Ancestors, auditevent.Process{PID: 1, Exe: "/usr/lib/systemd/systemd", Comm: "systemd", Args: []string{"/sbin/init"}})
	a.Ancestors[len(a.Ancestors)-2].PPID = 1
	return a
}

// TestRememberedBlocksEncodeAsFresh encodes, with one Encoder, a storm of
// alerts whose process, parent, ancestors or host change one thing at a
// time (a field, an argument changed in place in the caller's array, a
// parent gone, an ancestor more or less, a cut or a replaced byte, more
// processes than are remembered, another node): every line is the one a
// fresh Encoder writes for the alert.
func TestRememberedBlocksEncodeAsFresh(t *testing.T) {
	base := stormAlert(t)
	variants := []func(a *detections.Alert){
		func(a *detections.Alert) {},
		func(a *detections.Alert) { a.Process.PID++ },
		func(a *detections.Alert) { a.Process.Args[len(a.Process.Args)-1] = "-mode" },
		func(a *detections.Alert) { a.Process.Title = []string{"lg", "title"} },
		func(a *detections.Alert) { a.Process.Cwd = "/tmp" },
		func(a *detections.Alert) { a.Parent = nil },
		func(a *detections.Alert) { a.Parent.StartMilli++ },
		func(a *detections.Alert) { a.Ancestors = a.Ancestors[:len(a.Ancestors)-1] }, // chain not complete
		func(a *detections.Alert) { a.Ancestors[3].Exe = "/usr/bin/zsh" },
		func(a *detections.Alert) { a.Ancestors = nil },
		func(a *detections.Alert) { a.Process.Args[0] = "bad \xff arg" },                       // replaced: noted
		func(a *detections.Alert) { a.Parent.Args[2] = strings.Repeat("x", MaxStringBytes+1) }, // cut: noted
		func(a *detections.Alert) { a.Ancestors[0].Comm = "\x1b[0m" },
		func(a *detections.Alert) {
			ev := *a.Event
			ev.Node = "hostB"
			a.Event = &ev
		},
	}
	for i := range maxProcBlocks + 2 {
		variants = append(variants, func(a *detections.Alert) { a.Process.PID = 9000 + i })
	}
	clone := func() *detections.Alert {
		a := *base
		a.Process.Args = append([]string(nil), base.Process.Args...)
		p := *base.Parent
		p.Args = append([]string(nil), base.Parent.Args...)
		a.Parent = &p
		a.Ancestors = append([]auditevent.Process(nil), base.Ancestors...)
		return &a
	}
	var shared bytes.Buffer
	e := newTestEncoder(t, &shared)
	for round := range 3 {
		for i, vary := range variants {
			// One array of arguments, reused from alert to alert, as a
			// caller may: what the Encoder remembers must not change with it.
			a := clone()
			vary(a)
			writesAsFresh(t, e, &shared, a, fmt.Sprintf("round %d, variant %d", round, i))
		}
	}
	// An argument changed in place after the alert was written: the next
	// alert with the new argument says so.
	a := clone()
	shared.Reset()
	if err := e.WriteAlert(a); err != nil {
		t.Fatal(err)
	}
	a.Process.Args[len(a.Process.Args)-1] = "changed in place"
	shared.Reset()
	if err := e.WriteAlert(a); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(shared.Bytes(), []byte(`"changed in place"`)) {
		t.Fatalf("argument changed in place not written:\n%s", shared.Bytes())
	}
	// Event documents share the process blocks with alerts.
	var fresh bytes.Buffer
	want := newTestEncoder(t, &fresh).AppendEventDoc(nil, a)
	if got := e.AppendEventDoc(nil, a); !bytes.Equal(got, want) {
		t.Fatalf("event document:\n%s\nfresh encoder:\n%s", got, want)
	}
}

// TestEventBlocksEncodeAsFresh writes, with one Encoder, the alerts that
// share an event (a kmod tool's load from an unusual place raises two)
// between the alerts of other events, of a copy of the event and of an
// event whose record has a byte to replace: every line is the one a fresh
// Encoder writes, and the replaced byte is noted in each of its alerts.
func TestEventBlocksEncodeAsFresh(t *testing.T) {
	load := readEvent(t, "testdata/ubuntu2204-insmod-finit_module.log", auditevent.CompleteEOE)
	file := readEvent(t, "testdata/rhel9-mv-rename-modprobe-d.log", auditevent.CompleteEOE)
	copied := *load
	copied.Records = slices.Clone(load.Records)
	copied.Records[0].Text = []byte(strings.Replace(string(load.Records[0].Text), "success=no", "success=NO", 1))
	lossy := *load
	lossy.Records = slices.Clone(load.Records)
	lossy.Records[0].Text = append(slices.Clip(load.Records[0].Text), " bad=\xff"...)

	otherRule := func(a *detections.Alert) *detections.Alert {
		a.Rule = defConfig
		return a
	}
	alerts := []struct {
		what string
		a    *detections.Alert
	}{
		{"load, first rule", loadAlert(load, nil)},
		{"load, second rule", otherRule(loadAlert(load, nil))},
		{"load, another parent", loadAlert(load, &auditevent.Process{PID: 1, Comm: "systemd"})},
		{"a copy with a record changed", loadAlert(&copied, nil)},
		{"load again", loadAlert(load, nil)},
		{"another event", fileAlert(file, nil)},
		{"load after another event", otherRule(loadAlert(load, nil))},
		{"a byte to replace", loadAlert(&lossy, nil)},
		{"a byte to replace, second rule", otherRule(loadAlert(&lossy, nil))},
		{"load after the replaced byte", loadAlert(load, nil)},
	}
	var shared bytes.Buffer
	e := newTestEncoder(t, &shared)
	for _, c := range alerts {
		writesAsFresh(t, e, &shared, c.a, c.what)
		if c.a.Event == &lossy && !bytes.Contains(shared.Bytes(), []byte(`"auditd.records.0"`)) {
			t.Fatalf("%s: replaced byte not noted:\n%s", c.what, shared.Bytes())
		}
	}
	// The blocks were remembered, not encoded afresh each time.
	if !e.evBlocks.records.valid || !e.evBlocks.fields.valid || e.evBlocks.ev != load {
		t.Fatalf("event blocks not remembered: %+v", e.evBlocks)
	}
}

func BenchmarkAppendStormAlert(b *testing.B) {
	a := stormAlert(b)
	e, err := NewEncoder(&bytes.Buffer{}, testHost, DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	buf := e.AppendAlert(nil, a)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendAlert(buf[:0], a)
	}
}

// TestEqualProcessCoversEveryField changes each field of a Process in
// turn: equalProcess must tell every change, and cloneProcess must copy
// it, or a remembered process block would be written for another process
// (a field added to auditevent.Process and not compared here fails this).
func TestEqualProcessCoversEveryField(t *testing.T) {
	base := auditevent.Process{Args: []string{"a"}, Title: []string{"t"}}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		changed := base
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(7)
		case reflect.Uint32:
			f.SetUint(7)
		case reflect.String:
			f.SetString("x")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"a", "b"}))
		default:
			t.Fatalf("field %s: kind %s not handled here", typ.Field(i).Name, f.Kind())
		}
		if equalProcess(&base, &changed) {
			t.Errorf("field %s: a change is not seen", typ.Field(i).Name)
		}
		if c := cloneProcess(&changed); !equalProcess(&c, &changed) {
			t.Errorf("field %s: not cloned", typ.Field(i).Name)
		}
	}
}

// writesAsFresh writes a twice with e (into shared; a storm: the second
// encoding is remembered) and fails unless each time the line is the one
// a fresh Encoder writes.
func writesAsFresh(t *testing.T, e *Encoder, shared *bytes.Buffer, a *detections.Alert, what string) {
	t.Helper()
	var fresh bytes.Buffer
	if err := newTestEncoder(t, &fresh).WriteAlert(a); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		shared.Reset()
		if err := e.WriteAlert(a); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(shared.Bytes(), fresh.Bytes()) {
			t.Fatalf("%s:\n%s\nfresh encoder:\n%s", what, shared.Bytes(), fresh.Bytes())
		}
	}
}
