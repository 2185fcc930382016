package inventory

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseProcModules(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []ProcModule
		wantErr string
	}{
		{"live, used by, tainted", "nf_nat 57344 1 nft_chain_nat, Live 0xffffffffc0356000\nhello 16384 0 - Live 0x0000000000000000 (OE)\n",
			[]ProcModule{
				{Name: "nf_nat", Size: 57344, Refcount: 1, UsedBy: []string{"nft_chain_nat"}, State: StateLive, Address: "0xffffffffc0356000"},
				{Name: "hello", Size: 16384, Refcount: 0, State: StateLive, Address: "0x0000000000000000", Taint: "OE"},
			}, ""},
		{"loading, with the transition flag", "hello 16384 0 - Loading 0xffffffffc02f3000 (OE+)\n",
			[]ProcModule{{Name: "hello", Size: 16384, State: StateLoading, Address: "0xffffffffc02f3000", Taint: "OE", Transition: "+"}}, ""},
		{"unloading, no taint", "dummy 16384 0 - Unloading 0xffffffffc02f8000 (-)\n",
			[]ProcModule{{Name: "dummy", Size: 16384, State: StateUnloading, Address: "0xffffffffc02f8000", Transition: "-"}}, ""},
		{"no module unloading: refcount -", "dummy 16384 - - Live 0xffffffffc02f8000\n",
			[]ProcModule{{Name: "dummy", Size: 16384, Refcount: -1, State: StateLive, Address: "0xffffffffc02f8000"}}, ""},
		{"permanent and two users", "a 1 2 b,[permanent],c, Live 0x0\n",
			[]ProcModule{{Name: "a", Size: 1, Refcount: 2, UsedBy: []string{"b", "[permanent]", "c"}, State: StateLive, Address: "0x0"}}, ""},
		{"a name with spaces stays whole (parsed from the right)", "evil name 1 0 - Live 0x0\n",
			[]ProcModule{{Name: "evil name", Size: 1, State: StateLive, Address: "0x0"}}, ""},
		{"a name posing as fields does not shift them", "x 9 9 - Live 0x0 1 0 - Live 0x0\n",
			[]ProcModule{{Name: "x 9 9 - Live 0x0", Size: 1, State: StateLive, Address: "0x0"}}, ""},
		{"truncated line is reported, others kept", "dummy 16384 0 - Live 0x0\nhello 16384 0\n",
			[]ProcModule{{Name: "dummy", Size: 16384, State: StateLive, Address: "0x0"}}, "3 fields"},
		{"bad state", "dummy 16384 0 - Dead 0x0\n", nil, "bad state"},
		{"bad size", "dummy -1 0 - Live 0x0\n", nil, "bad size"},
		{"bad taint letters", "dummy 1 0 - Live 0x0 (oe)\n", nil, "bad taint"},
		{"empty", "", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcModules([]byte(tc.in))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTaint(t *testing.T) {
	for _, tc := range []struct {
		in      string
		mask    uint64
		letters string
		err     bool
	}{
		{"0\n", 0, "", false},
		{"12288\n", 12288, "OE", false},
		{"4097\n", 4097, "PO", false},
		{"1048576\n", 1 << 20, "#20", false},
		{"-1\n", 0, "", true},
		{"\n", 0, "", true},
		{"12 34\n", 0, "", true},
	} {
		m, err := ParseTainted([]byte(tc.in))
		if (err != nil) != tc.err || m != tc.mask || Letters(m) != tc.letters {
			t.Errorf("%q: %d %q %v, want %d %q err %v", tc.in, m, Letters(m), err, tc.mask, tc.letters, tc.err)
		}
	}
	fs := Flags(12288)
	if len(fs) != 2 || fs[0].Name != "OOT_MODULE" || fs[1].Name != "UNSIGNED_MODULE" || !fs[0].Module {
		t.Errorf("Flags(12288) = %+v", fs)
	}
	for i, f := range KnownFlags() {
		if f.Bit != i {
			t.Errorf("flag table out of order at %d: %+v", i, f)
		}
		if g, ok := FlagByLetter(f.Letter[0]); !ok || g.Bit != i {
			t.Errorf("letter %s", f.Letter)
		}
	}
}

func TestViewsRead(t *testing.T) {
	v := Views{ProcRoot: filepath.Join("testdata", "debian12-6.1", "proc"), SysRoot: filepath.Join("testdata", "debian12-6.1", "sys")}
	s, err := v.Read(time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !s.ProcOK || len(s.Proc) != 5 || len(s.Sys) != 5 || !s.TaintOK || s.Tainted != 12288 || s.BootID == "" {
		t.Fatalf("snapshot: proc %v %d sys %d taint %v %d boot %q", s.ProcOK, len(s.Proc), len(s.Sys), s.TaintOK, s.Tainted, s.BootID)
	}
	if _, ok := s.Sys["printk"]; ok {
		t.Error("a built-in module (no initstate) is listed")
	}
	nf := s.Sys["nf_nat"]
	if nf.InitState != "live" || nf.Refcnt != 1 || nf.CoreSize != 57344 || !reflect.DeepEqual(nf.Holders, []string{"nft_chain_nat"}) || nf.Sections != 13 {
		t.Errorf("nf_nat = %+v", nf)
	}
	if h := s.Sys["hello"]; h.Taint != "OE" || h.SrcVersion != "5B3B8D7B5A2E0D4E4A4C3E1" {
		t.Errorf("hello taint %q", h.Taint)
	}
	// A kernel without module support: no /proc/modules, no error for it.
	v.ProcRoot = t.TempDir()
	s, _ = v.Read(time.Now())
	if s.ProcOK {
		t.Error("ProcOK without /proc/modules")
	}
}

// TestRecordedGuest reads the views recorded in a 6.1 guest after one
// module unlinked itself from the module list (auditlkm_cv_hide, in sysfs
// only) and another hid from both views while using a third
// (auditlkm_cv_ghost_user, named only in auditlkm_cv_lib's used-by): the
// tracker finds both hidden.
func TestRecordedGuest(t *testing.T) {
	root := filepath.Join("testdata", "guest-6.1-recorded", "tree")
	v := Views{ProcRoot: filepath.Join(root, "proc"), SysRoot: filepath.Join(root, "sys")}
	s, err := v.Read(t0)
	if err != nil {
		t.Fatal(err)
	}
	lib := s.Proc["auditlkm_cv_lib"]
	if len(s.Proc) != 3 || len(s.Sys) != 4 || s.Sys["auditlkm_cv_hide"].Taint != "OE" || s.Sys["auditlkm_cv_hide"].Sections != 12 ||
		lib.Taint != "OE" || lib.Refcount != 1 || !reflect.DeepEqual(lib.UsedBy, []string{"auditlkm_cv_ghost_user"}) {
		t.Fatalf("recorded views: proc %+v sys %+v", s.Proc, s.Sys)
	}
	tr := NewTracker(0, time.Minute)
	for i, n := range []string{"auditlkm_cv_hide", "auditlkm_cv_ghost_user", "auditlkm_cv_lib", "nlmon", "ifb"} {
		tr.RecordLoad(load(float64(i-10), n, 140+i))
	}
	fs, _ := tr.Check(&s)
	if got := describe(fs); strings.Join(got, " ") != "hidden:auditlkm_cv_ghost_user hidden:auditlkm_cv_hide" {
		t.Errorf("findings %v", got)
	}
	for _, f := range fs {
		if f.Module.Name == "auditlkm_cv_ghost_user" && (f.Trace != "used-by" || f.Module.ReferencedBy != "auditlkm_cv_lib") {
			t.Errorf("used-by finding: %+v", f)
		}
	}
}
