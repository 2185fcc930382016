package priority

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The boost is process-wide and cannot be undone without privileges, so
// the test runs it in a child process: this test binary again, with
// AUDITLKM_PRIORITY_CHILD set to the boost to apply.
func TestMain(m *testing.M) {
	if b := os.Getenv("AUDITLKM_PRIORITY_CHILD"); b != "" {
		os.Exit(child(b))
	}
	os.Exit(m.Run())
}

// child boosts, starts more threads, and prints the nice value of every
// thread and the result, one line.
func child(arg string) int {
	boost, _ := strconv.Atoi(arg)
	_, err := Boost(boost)
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		return 0
	}
	// Threads created after the boost inherit it.
	done := make(chan struct{})
	for range 8 {
		go func() {
			b := 0
			for i := range 2_000_000 {
				b += i
			}
			_ = b
			done <- struct{}{}
		}()
	}
	for range 8 {
		<-done
	}
	tids, err := threads()
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		return 0
	}
	var nices []string
	for _, tid := range tids {
		n, err := Nice(tid)
		if err != nil {
			continue
		}
		nices = append(nices, strconv.Itoa(n))
	}
	os.Stdout.WriteString("nice " + strings.Join(nices, ",") + "\n")
	return 0
}

func runChild(t *testing.T, boost int, nice int) string {
	t.Helper()
	cmd := exec.Command("nice", "-n", strconv.Itoa(nice), os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "AUDITLKM_PRIORITY_CHILD="+strconv.Itoa(boost))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestBoostSetsEveryThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("lowering a nice value needs CAP_SYS_NICE")
	}
	tests := []struct {
		name        string
		boost, nice int
		want        string
	}{
		{"every thread gets nice -boost, later ones too", 4, 0, "-4"},
		{"a higher priority set from outside is kept", 4, -10, "-10"},
		{"boost 0 changes nothing", 0, 5, "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runChild(t, tt.boost, tt.nice)
			nices, ok := strings.CutPrefix(out, "nice ")
			if !ok {
				t.Fatalf("child said %q", out)
			}
			list := strings.Split(nices, ",")
			if len(list) < 2 {
				t.Fatalf("child reported %d threads, want several: %q", len(list), out)
			}
			for _, n := range list {
				if n != tt.want {
					t.Fatalf("thread nice values %s, want all %s", nices, tt.want)
				}
			}
		})
	}
}

func TestBoostRefusesOutOfRange(t *testing.T) {
	for _, b := range []int{-1, MaxBoost + 1} {
		if _, err := Boost(b); !errors.Is(err, ErrRange) {
			t.Errorf("Boost(%d) = %v, want ErrRange", b, err)
		}
	}
}
