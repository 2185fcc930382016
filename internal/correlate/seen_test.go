package correlate

import (
	"strings"
	"testing"
	"time"
)

func TestFirstSeen(t *testing.T) {
	s, _, _ := testStore(t, nil)
	mp := tp{pid: 3000, ppid: 1, comm: "modprobe", exe: "/usr/bin/kmod", args: []string{"modprobe", "-q", "evil"}, cwd: "/"}

	s.Observe(execEv(t, 0, 1, mp))
	if s.SeenBefore(SeenExe, "/usr/bin/kmod") {
		t.Fatal("the exe is seen before the event that first executes it")
	}
	if s.SeenBefore(SeenKmodArgs, "modprobe\x00-q\x00evil") {
		t.Fatal("the kmod args are seen before the event that first has them")
	}
	s.Observe(finitEv(t, 10, 2, mp, "evil"))
	if !s.SeenBefore(SeenExe, "/usr/bin/kmod") || !s.SeenBefore(SeenKmodArgs, "modprobe\x00-q\x00evil") {
		t.Fatal("values of an earlier event are not seen before")
	}
	if s.SeenBefore(SeenModule, "evil") {
		t.Fatal("the module is seen before its first load")
	}
	s.Observe(finitEv(t, 20, 3, mp, "evil"))
	if !s.SeenBefore(SeenModule, "evil") {
		t.Fatal("the module's second load is not seen before")
	}
	h, ok := s.SeenHistory(SeenModule, "evil")
	if !ok || h.Count != 2 || !h.First.Equal(time.UnixMilli(baseSec*1000+10)) || !h.Last.Equal(time.UnixMilli(baseSec*1000+20)) {
		t.Fatalf("history = %+v %v", h, ok)
	}

	t.Run("unknown kinds and empty values are ignored", func(t *testing.T) {
		s.MarkSeen("nope", "x", time.Now())
		s.MarkSeen(SeenModule, "", time.Now())
		if s.SeenBefore("nope", "x") || s.SeenBefore(SeenModule, "") {
			t.Fatal("ignored marks are seen")
		}
	})
	t.Run("long values stay distinct", func(t *testing.T) {
		a, b := strings.Repeat("a", 5000)+"1", strings.Repeat("a", 5000)+"2"
		s.MarkSeen(SeenKmodArgs, a, time.Now())
		s.Observe(finitEv(t, 30, 4, mp, ""))
		if !s.SeenBefore(SeenKmodArgs, a) || s.SeenBefore(SeenKmodArgs, b) {
			t.Fatal("long values collide")
		}
	})
}

func TestLearning(t *testing.T) {
	s, _, _ := testStore(t, func(c *Config) { c.LearningPeriod = time.Hour; c.StateDir = t.TempDir() })
	start := s.FirstStart()
	s.now = func() time.Time { return start.Add(59 * time.Minute) }
	if !s.learning() {
		t.Fatal("not learning within the period")
	}
	s.now = func() time.Time { return start.Add(time.Hour) }
	if s.learning() {
		t.Fatal("still learning after the period")
	}
	off, _, _ := testStore(t, func(c *Config) { c.LearningPeriod = 0 })
	if off.learning() {
		t.Fatal("learning with a zero period")
	}
}

func TestReplayLearnsOnTheEventClock(t *testing.T) {
	s, _, _ := testStore(t, func(c *Config) { c.LearningPeriod = time.Hour })
	s.now = func() time.Time { return time.Unix(baseSec, 0).Add(1000 * time.Hour) } // the wall clock is irrelevant
	if !s.learning() {
		t.Fatal("not learning before any event")
	}
	p := tp{pid: 3000, ppid: 1, comm: "modprobe", exe: "/usr/bin/kmod", args: []string{"modprobe", "x"}, cwd: "/"}
	s.Observe(execEv(t, 0, 1, p))
	s.Observe(execEv(t, time.Hour.Milliseconds()-1, 2, p))
	if !s.learning() {
		t.Fatal("not learning within an hour of event time after the first event")
	}
	s.Observe(execEv(t, time.Hour.Milliseconds(), 3, p))
	if s.learning() {
		t.Fatal("still learning an hour of event time after the first event")
	}
}
