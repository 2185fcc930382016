package correlate

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

var (
	bash   = tp{pid: 100, ppid: 1, comm: "bash", exe: "/usr/bin/bash", uid: 1000, auid: 1000, args: []string{"-bash"}, cwd: "/home/eve"}
	sudo   = tp{pid: 101, ppid: 100, comm: "sudo", exe: "/usr/bin/sudo", uid: 0, auid: 1000, args: []string{"sudo", "insmod", "/tmp/rk.ko"}, cwd: "/home/eve"}
	insmod = tp{pid: 102, ppid: 101, comm: "insmod", exe: "/usr/bin/kmod", uid: 0, auid: 1000, args: []string{"insmod", "/tmp/rk.ko"}, cwd: "/tmp"}
)

func with(p tp, mod func(*tp)) tp { mod(&p); return p }

func TestProcessTable(t *testing.T) {
	type step func(t *testing.T, s *Store)
	observe := func(build func(t *testing.T) *auditevent.Event) step {
		return func(t *testing.T, s *Store) { s.Observe(build(t)) }
	}
	wantProc := func(pid int, exe string, args []string, ppid int) step {
		return func(t *testing.T, s *Store) {
			t.Helper()
			p, ok := s.Process(pid)
			if !ok {
				t.Fatalf("Process(%d) unknown", pid)
			}
			if p.Exe != exe || !slices.Equal(p.Args, args) || p.PPID != ppid {
				t.Fatalf("Process(%d) = exe %q args %q ppid %d, want %q %q %d", pid, p.Exe, p.Args, p.PPID, exe, args, ppid)
			}
		}
	}
	wantParent := func(pid int, exe string, parentPID int) step {
		return func(t *testing.T, s *Store) {
			t.Helper()
			p, ok := s.Parent(pid)
			if exe == "" {
				if ok {
					t.Fatalf("Parent(%d) = %d %q, want none", pid, p.PID, p.Exe)
				}
				return
			}
			if !ok || p.Exe != exe || p.PID != parentPID {
				t.Fatalf("Parent(%d) = %d %q (%v), want %d %q", pid, p.PID, p.Exe, ok, parentPID, exe)
			}
		}
	}
	wantAncestry := func(pid int, exes ...string) step {
		return func(t *testing.T, s *Store) {
			t.Helper()
			var got []string
			for _, p := range s.Ancestry(pid, 10) {
				got = append(got, p.Exe)
			}
			if !slices.Equal(got, exes) {
				t.Fatalf("Ancestry(%d) = %q, want %q", pid, got, exes)
			}
		}
	}
	wantUnknown := func(pid int) step {
		return func(t *testing.T, s *Store) {
			if p, ok := s.Process(pid); ok {
				t.Fatalf("Process(%d) = %+v, want unknown", pid, p)
			}
		}
	}
	maintain := func(ms int64) step {
		return func(t *testing.T, s *Store) { s.Maintain(time.UnixMilli(baseSec*1000 + ms)) }
	}

	a := tp{pid: 300, ppid: 1, comm: "a", exe: "/usr/bin/a", args: []string{"a"}, cwd: "/"}
	aChild := tp{pid: 301, ppid: 300, comm: "a", exe: "/usr/bin/a", cwd: "/"}
	b := tp{pid: 300, ppid: 7, comm: "b", exe: "/usr/bin/b", args: []string{"b", "-x"}, cwd: "/srv"}

	tests := []struct {
		name  string
		steps []step
	}{
		{"an exec chain from bash through sudo to insmod names every parent", []step{
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 0, 1, bash) }),
			observe(func(t *testing.T) *auditevent.Event { return cloneEv(t, 10, 2, bash, 101, 0x1200011) }),
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 11, 3, sudo) }),
			observe(func(t *testing.T) *auditevent.Event { return cloneEv(t, 20, 4, sudo, 102, 0x1200011) }),
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 21, 5, insmod) }),
			wantProc(102, "/usr/bin/kmod", []string{"insmod", "/tmp/rk.ko"}, 101),
			wantParent(102, "/usr/bin/sudo", 101),
			wantParent(101, "/usr/bin/bash", 100),
			wantAncestry(102, "/usr/bin/sudo", "/usr/bin/bash"),
			func(t *testing.T, s *Store) {
				p, _ := s.Process(102)
				if p.Cwd != "/tmp" || p.AUID != 1000 || p.UID != 0 || p.Name() != "insmod" {
					t.Fatalf("insmod = %+v", p)
				}
				if p.StartMilli != baseSec*1000+20 {
					t.Fatalf("insmod start = %d, want the clone time %d", p.StartMilli, baseSec*1000+20)
				}
			},
		}},
		{"a fork without exec inherits the parent's image", []step{
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 0, 1, bash) }),
			observe(func(t *testing.T) *auditevent.Event { return forkEv(t, 50, 2, bash, 200) }),
			wantProc(200, "/usr/bin/bash", []string{"-bash"}, 100),
			wantParent(200, "/usr/bin/bash", 100),
		}},
		{"a thread clone creates no process", []step{
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 0, 1, bash) }),
			observe(func(t *testing.T) *auditevent.Event { return cloneEv(t, 50, 2, bash, 201, 0x3d0f00) }),
			wantUnknown(201),
		}},
		{"a failed execve keeps the old image", []step{
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 0, 1, bash) }),
			observe(func(t *testing.T) *auditevent.Event {
				return failedExecEv(t, 5, 2, with(bash, func(p *tp) { p.args = []string{"nope"} }))
			}),
			wantProc(100, "/usr/bin/bash", []string{"-bash"}, 1),
		}},
		{"pid reuse after an exit gives the newer process and keeps the old child's parent", []step{
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 0, 1, a) }),
			observe(func(t *testing.T) *auditevent.Event { return forkEv(t, 10, 2, a, 301) }),
			observe(func(t *testing.T) *auditevent.Event { return exitEv(t, 20, 3, a) }),
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 5000, 4, b) }),
			wantProc(300, "/usr/bin/b", []string{"b", "-x"}, 7),
			wantParent(301, "/usr/bin/a", 300),
			wantAncestry(301, "/usr/bin/a"),
			func(t *testing.T, s *Store) {
				if st := s.Stats(); st.Processes != 3 || st.ExitedProcesses != 1 {
					t.Fatalf("stats = %+v, want 3 processes, 1 exited", st)
				}
			},
		}},
		{"pid reuse without an exit event is told by the new parent pid", []step{
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 0, 1, a) }),
			observe(func(t *testing.T) *auditevent.Event { return forkEv(t, 10, 2, a, 301) }),
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 60000, 4, b) }),
			wantProc(300, "/usr/bin/b", []string{"b", "-x"}, 7),
			wantParent(301, "/usr/bin/a", 300),
			// A later event of the old child still resolves its own parent.
			observe(func(t *testing.T) *auditevent.Event {
				return execEv(t, 61000, 5, with(aChild, func(p *tp) { p.exe, p.args = "/usr/bin/c", []string{"c"} }))
			}),
			wantParent(301, "/usr/bin/a", 300),
		}},
		{"a parent that exited before its child still names it until its ttl", []step{
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 0, 1, bash) }),
			observe(func(t *testing.T) *auditevent.Event { return forkEv(t, 10, 2, bash, 400) }),
			observe(func(t *testing.T) *auditevent.Event { return exitEv(t, 20, 3, bash) }),
			observe(func(t *testing.T) *auditevent.Event {
				return execEv(t, 30, 4, with(insmod, func(p *tp) { p.pid, p.ppid = 400, 100 }))
			}),
			wantParent(400, "/usr/bin/bash", 100),
			maintain(20 + DefaultProcessTTL.Milliseconds() - 1),
			wantParent(400, "/usr/bin/bash", 100),
			maintain(20 + DefaultProcessTTL.Milliseconds()),
			wantParent(400, "", 0),
			wantUnknown(100),
			wantProc(400, "/usr/bin/kmod", []string{"insmod", "/tmp/rk.ko"}, 100),
		}},
		{"a child whose events come before its parent's clone stays one process", []step{
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 0, 1, bash) }),
			observe(func(t *testing.T) *auditevent.Event {
				return execEv(t, 3, 3, with(insmod, func(p *tp) { p.pid, p.ppid = 500, 100 }))
			}),
			observe(func(t *testing.T) *auditevent.Event { return cloneEv(t, 2, 2, bash, 500, 0x1200011) }),
			wantProc(500, "/usr/bin/kmod", []string{"insmod", "/tmp/rk.ko"}, 100),
			wantParent(500, "/usr/bin/bash", 100),
		}},
		{"late events of an exited process still resolve to it", []step{
			observe(func(t *testing.T) *auditevent.Event { return execEv(t, 0, 1, a) }),
			observe(func(t *testing.T) *auditevent.Event { return exitEv(t, 20, 3, a) }),
			observe(func(t *testing.T) *auditevent.Event { return openEv(t, 15, 2, a, "/etc/passwd", 0, "NORMAL", 5, "yes") }),
			wantProc(300, "/usr/bin/a", []string{"a"}, 1),
			func(t *testing.T, s *Store) {
				if st := s.Stats(); st.Processes != 1 {
					t.Fatalf("stats = %+v, want 1 process", st)
				}
			},
		}},
		{"hostile names with newlines and non-UTF-8 bytes are kept verbatim", []step{
			observe(func(t *testing.T) *auditevent.Event {
				return execEv(t, 0, 1, tp{pid: 600, ppid: 1, comm: "x", exe: "/tmp/a\nb\xff", hexExeName: true,
					args: []string{"./a\nb", "\"q\"", "\xfe"}, cwd: "/tmp/new\nline"})
			}),
			wantProc(600, "/tmp/a\nb\xff", []string{"./a\nb", "\"q\"", "\xfe"}, 1),
			func(t *testing.T, s *Store) {
				if p, _ := s.Process(600); p.Cwd != "/tmp/new\nline" {
					t.Fatalf("cwd = %q", p.Cwd)
				}
			},
		}},
		{"an ancestry loop from hostile input ends", []step{
			observe(func(t *testing.T) *auditevent.Event {
				return execEv(t, 0, 1, tp{pid: 700, ppid: 701, comm: "x", exe: "/x", args: []string{"x"}, cwd: "/"})
			}),
			observe(func(t *testing.T) *auditevent.Event {
				return execEv(t, 1, 2, tp{pid: 701, ppid: 700, comm: "y", exe: "/y", args: []string{"y"}, cwd: "/"})
			}),
			func(t *testing.T, s *Store) {
				if got := s.Ancestry(700, 1000); len(got) > 2 {
					t.Fatalf("Ancestry looped: %d entries", len(got))
				}
			},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := testStore(t, nil)
			for _, st := range tc.steps {
				st(t, s)
			}
		})
	}
}

func TestSeedFromFakeProc(t *testing.T) {
	fp := newFakeProc(t)
	const cid = "3f1c2b7e9a0d4c5b8e7f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f"
	fp.add(fakeProcess{pid: 1, ppid: 0, comm: "systemd", exe: "/usr/lib/systemd/systemd", args: []string{"/sbin/init", "splash"}, cwd: "/", uid: 0, auid: auditevent.Unset, startMs: -3599000})
	fp.add(fakeProcess{pid: 2, ppid: 0, comm: "kthreadd", startMs: -3599000, auid: auditevent.Unset})
	fp.add(fakeProcess{pid: 800, ppid: 1, comm: "sshd", exe: "/usr/sbin/sshd", args: []string{"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"}, cwd: "/", auid: auditevent.Unset, startMs: -3000000})
	fp.add(fakeProcess{pid: 900, ppid: 800, comm: "bash (x) y", exe: "/usr/bin/bash", args: []string{"-bash"}, cwd: "/root", uid: 0, auid: 1000, startMs: -60000,
		cgroup: "0::/system.slice/docker-" + cid + ".scope\n"})
	fp.add(fakeProcess{pid: 12, ppid: 2, comm: "kworker/0:1", startMs: -3500000, auid: auditevent.Unset})

	s, m, _ := testStore(t, func(c *Config) { c.ProcRoot = fp.root })
	if err := s.Seed(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Processes != 5 {
		t.Fatalf("seeded %d processes, want 5", st.Processes)
	}
	if n := testutil.ToFloat64(m.procReads); n != 5 {
		t.Fatalf("proc reads = %v, want 5", n)
	}
	p, ok := s.Process(900)
	if !ok || p.Exe != "/usr/bin/bash" || p.Comm != "bash (x) y" || p.Cwd != "/root" || p.AUID != 1000 || p.UID != 0 ||
		p.StartMilli != (fakeBtime*1000)+int64(ticksAt(-60000))*10 || !slices.Equal(p.Args, []string{"-bash"}) {
		t.Fatalf("Process(900) = %+v", p)
	}
	if got := s.ContainerID(900); got != cid {
		t.Fatalf("ContainerID(900) = %q", got)
	}
	var chain []string
	for _, a := range s.Ancestry(900, 10) {
		chain = append(chain, a.Comm)
	}
	if !slices.Equal(chain, []string{"sshd", "systemd"}) {
		t.Fatalf("Ancestry(900) = %q", chain)
	}
	if k, _ := s.Process(2); k.Exe != "" || k.Comm != "kthreadd" {
		t.Fatalf("kthreadd = %+v", k)
	}

	t.Run("an unknown pid is read lazily with its parent", func(t *testing.T) {
		fp.add(fakeProcess{pid: 950, ppid: 940, comm: "modprobe", exe: "/usr/bin/kmod", args: []string{"modprobe", "evil"}, cwd: "/", startMs: 1000, auid: 1000})
		fp.add(fakeProcess{pid: 940, ppid: 900, comm: "sh", exe: "/usr/bin/dash", args: []string{"sh", "-c", "modprobe evil"}, cwd: "/tmp", startMs: 900, auid: 1000})
		s.Observe(finitEv(t, 1500, 10, tp{pid: 950, ppid: 940, comm: "modprobe", exe: "/usr/bin/kmod", auid: 1000}, "evil"))
		p, ok := s.Process(950)
		if !ok || !slices.Equal(p.Args, []string{"modprobe", "evil"}) || p.StartMilli != baseSec*1000+1000 {
			t.Fatalf("Process(950) = %+v", p)
		}
		par, ok := s.Parent(950)
		if !ok || par.Exe != "/usr/bin/dash" || par.Cwd != "/tmp" {
			t.Fatalf("Parent(950) = %+v %v", par, ok)
		}
		if chain := s.Ancestry(950, 10); len(chain) != 4 || chain[1].Comm != "bash (x) y" {
			t.Fatalf("Ancestry(950) = %+v", chain)
		}
		if s.ContainerID(950) != "" {
			t.Fatalf("modprobe has no cgroup id of its own")
		}
	})
	t.Run("a /proc entry newer than the event is another process", func(t *testing.T) {
		fp.add(fakeProcess{pid: 960, ppid: 1, comm: "late", exe: "/usr/bin/late", startMs: 9000})
		s.Observe(exitEv(t, 2000, 11, tp{pid: 960, ppid: 900, comm: "early", exe: "/usr/bin/early"}))
		p, _ := s.Process(960)
		if p.Exe != "/usr/bin/early" || p.PPID != 900 {
			t.Fatalf("Process(960) = %+v, want the event's process", p)
		}
	})
	t.Run("a reused pid with a new start time replaces the seeded entry", func(t *testing.T) {
		fp.add(fakeProcess{pid: 800, ppid: 1, comm: "nc", exe: "/usr/bin/nc", args: []string{"nc", "-l"}, cwd: "/tmp", startMs: 2500, auid: 1000})
		s.Observe(execEv(t, 3000, 12, tp{pid: 800, ppid: 1, comm: "nc", exe: "/usr/bin/nc", args: []string{"nc", "-l"}, cwd: "/tmp", auid: 1000}))
		// Same ppid as sshd had, so the image replaces sshd's... unless the
		// start time says otherwise: an execve event of a known pid with
		// the same parent is the same process, as the kernel keeps the pid.
		p, _ := s.Process(800)
		if p.Exe != "/usr/bin/nc" {
			t.Fatalf("Process(800) = %+v", p)
		}
		// A different parent pid makes the store check /proc.
		fp.add(fakeProcess{pid: 800, ppid: 5, comm: "x", exe: "/usr/bin/x", startMs: 3500})
		s.Observe(execEv(t, 4000, 13, tp{pid: 800, ppid: 5, comm: "x", exe: "/usr/bin/x", args: []string{"x"}, cwd: "/"}))
		p, _ = s.Process(800)
		if p.Exe != "/usr/bin/x" || p.StartMilli != baseSec*1000+3500 {
			t.Fatalf("Process(800) = %+v, want the new incarnation from /proc", p)
		}
		// bash (900) keeps its sshd-era parent incarnation.
		if par, ok := s.Parent(900); !ok || par.Exe != "/usr/bin/nc" || par.PID != 800 {
			t.Fatalf("Parent(900) = %+v %v, want the older incarnation of 800", par, ok)
		}
	})
}

func TestLazyReadsAreBudgeted(t *testing.T) {
	fp := newFakeProc(t)
	const budget, n = 20, 30
	for pid := 1000; pid < 1000+n; pid++ {
		fp.add(fakeProcess{pid: pid, ppid: 1, comm: "w", startMs: -1000, statOnly: true})
	}
	s, m, _ := testStore(t, func(c *Config) { c.ProcRoot = fp.root })
	now := time.Unix(baseSec, 0)
	s.now = func() time.Time { return now }
	s.budgets[classProcess].limit = budget
	for pid := 1000; pid < 1000+n; pid++ {
		s.Observe(exitEv(t, 0, pid, tp{pid: pid, ppid: 1, comm: "w", exe: "/usr/bin/w"}))
	}
	if got := testutil.ToFloat64(m.procReads); got != budget {
		t.Fatalf("proc reads = %v, want the budget %d", got, budget)
	}
	if got := testutil.ToFloat64(m.budgetExceeded[classProcess]); got < n-budget {
		t.Fatalf("budget exceeded = %v, want at least %d", got, n-budget)
	}
	// Every process is still known, from its event.
	if st := s.Stats(); st.Processes != n {
		t.Fatalf("processes = %d, want %d", st.Processes, n)
	}
	// The next second has a fresh budget.
	now = now.Add(time.Second)
	fp.add(fakeProcess{pid: 5000, ppid: 1, comm: "v", exe: "/usr/bin/v", args: []string{"v"}, startMs: -1000})
	s.Observe(exitEv(t, 1, 5000, tp{pid: 5000, ppid: 1, comm: "v", exe: "/usr/bin/v"}))
	if p, _ := s.Process(5000); !slices.Equal(p.Args, []string{"v"}) {
		t.Fatalf("Process(5000) = %+v, want it read from /proc", p)
	}
}

func TestSeedFromRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	s, _, _ := testStore(t, func(c *Config) { c.ProcRoot = "/proc" })
	if err := s.Seed(t.Context()); err != nil {
		t.Fatal(err)
	}
	p, ok := s.Process(os.Getpid())
	if !ok {
		t.Fatal("this test binary is not in the table")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if p.Exe != exe || !slices.Equal(p.Args, os.Args) || p.PPID != os.Getppid() || p.UID != uint32(os.Getuid()) {
		t.Fatalf("Process(self) = %+v, want exe %q args %q ppid %d", p, exe, os.Args, os.Getppid())
	}
	if d := time.Since(time.UnixMilli(p.StartMilli)); d < 0 || d > 10*time.Minute {
		t.Fatalf("start time %v is %v ago", time.UnixMilli(p.StartMilli), d)
	}
	if par, ok := s.Parent(os.Getpid()); !ok || par.PID != os.Getppid() {
		t.Fatalf("Parent(self) = %+v %v", par, ok)
	}
	if anc := s.Ancestry(os.Getpid(), MaxAncestry); len(anc) == 0 || anc[len(anc)-1].PPID != 0 {
		t.Fatalf("ancestry does not reach a root: %+v", anc)
	}
}

// boundArgsLoop is boundArgsTo as it was first written: each argument
// cloned on its own.
func boundArgsLoop(args []string, limit int) []string {
	if len(args) == 0 {
		return nil
	}
	n, total := min(len(args), maxStoredArgs), 0
	out := make([]string, 0, n)
	for _, a := range args[:n] {
		if total+len(a) > limit {
			a = a[:max(0, limit-total)]
		}
		total += len(a)
		out = append(out, a)
		if total >= limit {
			break
		}
	}
	return out
}

func TestBoundArgsCutsAsEachArgumentCopied(t *testing.T) {
	many := make([]string, maxStoredArgs+3)
	for i := range many {
		many[i] = "a"
	}
	tests := []struct {
		name  string
		args  []string
		limit int
	}{
		{"no arguments", nil, 10},
		{"within the limit", []string{"insmod", "/tmp/rk.ko"}, 100},
		{"the last argument reaches the limit", []string{"ab", "cd"}, 4},
		{"an argument before the last reaches the limit", []string{"ab", "cd", ""}, 4},
		{"an argument is cut", []string{"abc", "defgh", "ij"}, 5},
		{"empty arguments", []string{"", "", "x", ""}, 10},
		{"more than maxStoredArgs", many, 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := boundArgsLoop(tc.args, tc.limit)
			got := boundArgsTo(tc.args, tc.limit)
			if !slices.Equal(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("boundArgsTo = %q, want %q", got, want)
			}
			if within := argsWithin(tc.args, tc.limit); within != (len(want) > 0 && slices.Equal(want, tc.args)) {
				t.Errorf("argsWithin = %v, but boundArgsTo returns %q for %q", within, want, tc.args)
			}
		})
	}
}
