package toolargs

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseKmod(t *testing.T) {
	kmod := "/usr/bin/kmod"
	tests := []struct {
		name      string
		exe, comm string
		argv      string // space separated
		op        Op
		tool      string
		modules   []string
		params    []string
		maybeLoad bool
		why       string
		configs   []string
	}{
		{name: "insmod file", exe: kmod, argv: "insmod /tmp/x.ko", op: Load, tool: "insmod", modules: []string{"/tmp/x.ko"}},
		{name: "insmod params", exe: kmod, argv: "insmod -f x.ko a=1 b=2", op: Load, tool: "insmod", modules: []string{"x.ko"}, params: []string{"a=1", "b=2"}},
		{name: "insmod version", exe: kmod, argv: "insmod -V", op: Query, tool: "insmod", why: "no module named"},
		{name: "insmod -- dash file", exe: kmod, argv: "insmod -- -x.ko", op: Load, tool: "insmod", modules: []string{"-x.ko"}},
		{name: "insmod V after file", exe: kmod, argv: "insmod x.ko -V", op: Query, tool: "insmod", modules: []string{"x.ko"}, maybeLoad: true, why: "version"},
		{name: "modprobe load", exe: kmod, argv: "modprobe evil", op: Load, tool: "modprobe", modules: []string{"evil"}},
		{name: "modprobe params after --", exe: kmod, argv: "modprobe evil -- --showconfig", op: Load, tool: "modprobe", modules: []string{"evil"}, params: []string{"--showconfig"}},
		{name: "modprobe -- first", exe: kmod, argv: "modprobe -q -- evil --show-depends", op: Load, tool: "modprobe", modules: []string{"evil"}, params: []string{"--show-depends"}},
		{name: "modprobe -c", exe: kmod, argv: "modprobe -c", op: Query, tool: "modprobe", why: "show-config"},
		{name: "modprobe --showconfig -C", exe: kmod, argv: "modprobe --showconfig -C /tmp/x.conf", op: Query, tool: "modprobe", why: "show-config", configs: []string{"/tmp/x.conf"}},
		{name: "modprobe --showc prefix", exe: kmod, argv: "modprobe --showc", op: Query, tool: "modprobe", why: "show-config"},
		{name: "modprobe show-depends", exe: kmod, argv: "modprobe --show-depends evil", op: Query, tool: "modprobe", modules: []string{"evil"}, why: "show-depends"},
		{name: "modprobe -D", exe: kmod, argv: "modprobe -D evil", op: Query, tool: "modprobe", modules: []string{"evil"}, why: "show-depends"},
		{name: "modprobe -n -v", exe: kmod, argv: "modprobe -n -v usb-storage", op: Query, tool: "modprobe", modules: []string{"usb-storage"}, why: "dry-run"},
		{name: "modprobe cluster -qn", exe: kmod, argv: "modprobe -qn evil", op: Query, tool: "modprobe", modules: []string{"evil"}, why: "dry-run"},
		{name: "modprobe -R", exe: kmod, argv: "modprobe -R evil", op: Query, tool: "modprobe", modules: []string{"evil"}, why: "show-alias"},
		{name: "modprobe --resolve-alias", exe: kmod, argv: "modprobe --resolve-alias evil", op: Query, tool: "modprobe", modules: []string{"evil"}, why: "show-alias"},
		{name: "modprobe -C value not a module", exe: kmod, argv: "modprobe -C /tmp/x.conf evil", op: Load, tool: "modprobe", modules: []string{"evil"}, configs: []string{"/tmp/x.conf"}},
		{name: "modprobe -Cattached", exe: kmod, argv: "modprobe -C/tmp/x.conf evil", op: Load, tool: "modprobe", modules: []string{"evil"}, configs: []string{"/tmp/x.conf"}},
		{name: "modprobe --config=", exe: kmod, argv: "modprobe --config=/tmp/x.conf evil", op: Load, tool: "modprobe", modules: []string{"evil"}, configs: []string{"/tmp/x.conf"}},
		{name: "modprobe -d -S", exe: kmod, argv: "modprobe -d /tmp/root -S 6.1 evil", op: Load, tool: "modprobe", modules: []string{"evil"}},
		{name: "modprobe -C -n: value is not dry-run", exe: kmod, argv: "modprobe -C -n evil", op: Load, tool: "modprobe", modules: []string{"evil"}, configs: []string{"-n"}},
		{name: "modprobe -r", exe: kmod, argv: "modprobe -r evil", op: Unload, tool: "modprobe", modules: []string{"evil"}},
		{name: "modprobe -qr cluster", exe: kmod, argv: "modprobe -qr a b", op: Unload, tool: "modprobe", modules: []string{"a", "b"}},
		{name: "modprobe -r after module", exe: kmod, argv: "modprobe evil -r", op: Unload, tool: "modprobe", modules: []string{"evil"}, why: "remove after the module name"},
		{name: "modprobe query after module", exe: kmod, argv: "modprobe evil --showconfig", op: Query, tool: "modprobe", modules: []string{"evil"}, maybeLoad: true, why: "show-config after the module name"},
		{name: "modprobe unknown option", exe: kmod, argv: "modprobe --bogus evil", op: Query, tool: "modprobe", modules: []string{"evil"}, why: "option error: unknown option --bogus"},
		{name: "modprobe ambiguous prefix", exe: kmod, argv: "modprobe --re evil", op: Query, tool: "modprobe", modules: []string{"evil"}, why: "option error: ambiguous option --re"},
		{name: "modprobe -a", exe: kmod, argv: "modprobe -a x y", op: Load, tool: "modprobe", modules: []string{"x", "y"}},
		{name: "modprobe nothing", exe: kmod, argv: "modprobe", op: Query, tool: "modprobe", why: "no module named"},
		{name: "modprobe -C missing value", exe: kmod, argv: "modprobe -C", op: Query, tool: "modprobe", why: "option error: option -C needs a value"},
		{name: "kernel autoload", exe: "/usr/bin/kmod", argv: "/sbin/modprobe -q -- net-pf-10", op: Load, tool: "modprobe", modules: []string{"net-pf-10"}},
		{name: "rmmod", exe: kmod, argv: "rmmod -f evil", op: Unload, tool: "rmmod", modules: []string{"evil"}},
		{name: "modinfo", exe: kmod, argv: "modinfo evil", op: Query, tool: "modinfo", why: "modinfo"},
		{name: "depmod", exe: kmod, argv: "depmod -a", op: Query, tool: "depmod", why: "depmod"},
		{name: "kmod list", exe: kmod, argv: "kmod list", op: Query, tool: "kmod", why: "kmod list"},
		{name: "kmod insmod", exe: kmod, argv: "kmod insmod /tmp/x.ko", op: Load, tool: "insmod", modules: []string{"/tmp/x.ko"}},
		{name: "busybox insmod", exe: "/bin/busybox", argv: "busybox insmod x.ko", op: Load, tool: "insmod", modules: []string{"x.ko"}},
		{name: "busybox symlink", exe: "/bin/busybox", argv: "modprobe evil", op: Load, tool: "modprobe", modules: []string{"evil"}},
		{name: "standalone", exe: "/sbin/insmod", argv: "ins x.ko", op: Load, tool: "insmod", modules: []string{"x.ko"}},
		{name: "not kmod", exe: "/usr/bin/cat", argv: "cat modprobe", op: NotKmod},
		{name: "comm only", exe: kmod, comm: "modprobe", argv: "", op: Load, tool: "modprobe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var argv []string
			if tc.argv != "" {
				argv = strings.Split(tc.argv, " ")
			}
			k := ParseKmod(tc.exe, tc.comm, argv)
			if k.Op != tc.op || k.Tool != tc.tool || k.MaybeLoad != tc.maybeLoad || (tc.why != "" && k.Why != tc.why) {
				t.Fatalf("op %v tool %q maybe %v why %q; want %v %q %v %q", k.Op, k.Tool, k.MaybeLoad, k.Why, tc.op, tc.tool, tc.maybeLoad, tc.why)
			}
			if !reflect.DeepEqual(k.Modules, tc.modules) && !(len(k.Modules) == 0 && len(tc.modules) == 0) {
				t.Errorf("modules %q, want %q", k.Modules, tc.modules)
			}
			if !reflect.DeepEqual(k.Params, tc.params) && !(len(k.Params) == 0 && len(tc.params) == 0) {
				t.Errorf("params %q, want %q", k.Params, tc.params)
			}
			if !reflect.DeepEqual(k.Configs, tc.configs) && !(len(k.Configs) == 0 && len(tc.configs) == 0) {
				t.Errorf("configs %q, want %q", k.Configs, tc.configs)
			}
		})
	}
}

func TestForeignConfigs(t *testing.T) {
	k := Kmod{Configs: []string{"/etc/modprobe.d/a.conf", "/tmp/x.conf", "/etc/modprobe.conf", "/etc/modprobe.d/../../tmp/y",
		"/usr/lib/modprobe.d", "/etc/modprobe.d/sub/z.conf"}}
	got := k.ForeignConfigs()
	want := []string{"/tmp/x.conf", "/etc/modprobe.d/../../tmp/y", "/etc/modprobe.d/sub/z.conf"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseBpftool(t *testing.T) {
	tests := []struct {
		argv         string
		object, verb string
		loads        bool
	}{
		{"bpftool prog load x.o /sys/fs/bpf/x", "prog", "load", true},
		{"bpftool pro lo x.o /sys/fs/bpf/x", "prog", "load", true},
		{"bpftool p loada x.o /sys/fs/bpf/x", "prog", "loadall", true},
		{"bpftool p l", "prog", "list", false},
		{"bpftool -d -L prog load x.o p", "prog", "load", true},
		{"bpftool --base-btf prog map show", "map", "show", false},
		{"bpftool -B /x p a id 1 xdp dev lo", "prog", "attach", true},
		{"bpftool m c /sys/fs/bpf/m type hash key 4 value 4 entries 1 name m", "map", "create", true},
		{"bpftool l p id 1 /sys/fs/bpf/l", "link", "pin", true},
		{"bpftool prog show", "prog", "show", false},
		{"bpftool -h prog load x.o p", "prog", "load", false},
		{"bpftool batch file /tmp/cmds", "batch", "", true},
		{"bpftool struct_ops register x.o", "struct_ops", "register", true},
		{"bpftool prog load -- x", "prog", "load", true},
		{"bpftool zz load", "", "", false},
	}
	for _, tc := range tests {
		b := ParseBpftool(strings.Split(tc.argv, " "))
		if b.Object != tc.object || b.Verb != tc.verb || b.Loads() != tc.loads {
			t.Errorf("%s: %q %q %v, want %q %q %v", tc.argv, b.Object, b.Verb, b.Loads(), tc.object, tc.verb, tc.loads)
		}
	}
}

func FuzzParseKmod(f *testing.F) {
	for _, s := range []string{"modprobe evil -- --showconfig", "insmod -f x.ko a=1", "modprobe -C", "kmod list",
		"modprobe --con=/x -qrn a b", "rmmod -", "modprobe --=x", "modprobe -", "bpftool pro lo x"} {
		f.Add("/usr/bin/kmod", s)
	}
	f.Fuzz(func(t *testing.T, exe, line string) {
		argv := strings.Split(line, "\x00")
		if len(argv) == 1 {
			argv = strings.Fields(line)
		}
		k := ParseKmod(exe, "modprobe", argv)
		// Every module and parameter is an argument, and every parameter
		// follows the module in argv.
		if k.Op == Load && len(argv) > 0 && len(k.Modules) == 0 {
			t.Fatalf("load without module: %q", argv)
		}
		if k.MaybeLoad && len(k.Modules) == 0 {
			t.Fatalf("maybe-load without module: %q", argv)
		}
		n := len(k.Modules) + len(k.Params)
		if len(argv) > 0 && n > len(argv) {
			t.Fatalf("%d operands from %d args", n, len(argv))
		}
		_ = k.ForeignConfigs()
		b := ParseBpftool(argv)
		_ = b.Loads()
	})
}
