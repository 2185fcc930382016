package netlink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/statefile"
)

// bootIDPath identifies the current boot: serials and the lost counter
// only compare within one boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// maxStateFileBytes bounds the state file read at start.
const maxStateFileBytes = 4096

// maxSerialGap bounds a plausible serial gap across a restart; a larger
// difference (or a negative one) means the serials are not comparable.
const maxSerialGap = 1 << 30

// restartState is what a run leaves for the next one.
type restartState struct {
	BootID string `json:"boot_id"`
	// Lost is the kernel's lost counter at the last poll.
	Lost uint32 `json:"lost"`
	// Serial is the last audit serial received (0: none).
	Serial uint32 `json:"serial"`
	PID    int    `json:"pid"`
	Time   string `json:"time"`
}

// restartGap is what the previous run's state says about the restart.
type restartGap struct {
	known      bool
	lost       uint64
	prevSerial uint32
}

func bootID() string {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

func readRestartState(path string) (restartState, error) {
	// A regular file only, size-checked: a FIFO or a link to /dev/zero
	// planted as the state must not hang or flood the start.
	f, _, err := statefile.Open(path, maxStateFileBytes)
	if err != nil {
		return restartState{}, err
	}
	defer f.Close()
	var st restartState
	dec := json.NewDecoder(io.LimitReader(f, maxStateFileBytes))
	if err := dec.Decode(&st); err != nil {
		return restartState{}, fmt.Errorf("read %s: %w", path, err)
	}
	return st, nil
}

// writeRestartState replaces path atomically, through a temporary file
// created exclusively (never through a link).
func writeRestartState(path string, st restartState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return statefile.Replace(path, 0o600, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// loadRestartGap compares the previous run's state with the kernel's lost
// counter now (read before the pid was claimed).
func (c *Client) loadRestartGap(path string, lostNow uint32) {
	prev, err := readRestartState(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		c.log.Warn("previous run's netlink state unreadable; no restart accounting", "error", err)
		return
	}
	if prev.BootID == "" || prev.BootID != bootID() {
		c.log.Info("previous run was in another boot; no restart accounting", "state_file", path)
		return
	}
	g := restartGap{known: true, prevSerial: prev.Serial}
	if lostNow >= prev.Lost {
		g.lost = uint64(lostNow - prev.Lost)
	} else {
		g.lost = uint64(lostNow) // reset in between: at least this many
	}
	c.gap = g
	c.log.Info("kernel lost counter since the previous run", "lost_records", g.lost,
		"previous_pid", prev.PID, "previous_last_poll", prev.Time, "previous_last_serial", prev.Serial)
}

// missedSerials returns the serials between the previous run's last record
// and this run's first, once both are known.
func (c *Client) missedSerials() (uint64, bool) {
	first := c.firstSerial.Load()
	if !c.gap.known || c.gap.prevSerial == 0 || first == 0 {
		return 0, false
	}
	d := first - c.gap.prevSerial - 1 // uint32: a rollover in between is fine
	if d > maxSerialGap {
		return 0, false
	}
	return uint64(d), true
}

// poll runs until stop is closed: it folds the kernel status into the
// collector and keeps the state file fresh.
func (c *Client) poll(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	gapLogged := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		st, err := c.status.Poll()
		if err != nil {
			continue
		}
		c.saveState(st.Lost)
		if !gapLogged {
			if n, ok := c.missedSerials(); ok {
				gapLogged = true
				c.log.Info("audit serials missed across the restart", "missed_serials", n,
					"previous_last_serial", c.gap.prevSerial, "first_serial", c.firstSerial.Load())
			}
		}
	}
}

// saveState writes the state file when something changed.
func (c *Client) saveState(lost uint32) {
	if c.stateFile == "" {
		return
	}
	serial := c.lastSerial.Load()
	if c.saved.Load() && lost == c.savedLost && serial == c.savedSerial {
		return
	}
	err := writeRestartState(c.stateFile, restartState{BootID: c.boot, Lost: lost, Serial: serial,
		PID: os.Getpid(), Time: time.Now().UTC().Format(time.RFC3339Nano)})
	if err != nil {
		if ok, _ := c.stateLog.allow(time.Now()); ok {
			c.log.Warn("netlink state not saved", "error", err)
		}
		return
	}
	c.saved.Store(true)
	c.savedLost, c.savedSerial = lost, serial
}

// Collector returns the Client's scrape-time collector: the kernel status,
// the kernel's lost records since Open, the data socket's drops and fill,
// and the restart gap. Register it once.
func (c *Client) Collector() *StatusCollector { return c.status }

// collect adds the Client's own figures.
func (c *Client) collect(ch chan<- prometheus.Metric) {
	mi, err := c.data.memInfo()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, 0, socketCollectorName)
	} else {
		ch <- prometheus.MustNewConstMetric(socketDropsDesc, prometheus.CounterValue, float64(mi.drops))
		ch <- prometheus.MustNewConstMetric(socketRcvbufDesc, prometheus.GaugeValue, float64(mi.rcvbuf))
		ch <- prometheus.MustNewConstMetric(socketQueuedDesc, prometheus.GaugeValue, float64(mi.queued))
		ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, 1, socketCollectorName)
	}
	if c.gap.known {
		ch <- prometheus.MustNewConstMetric(restartLostDesc, prometheus.GaugeValue, float64(c.gap.lost))
		if n, ok := c.missedSerials(); ok {
			ch <- prometheus.MustNewConstMetric(restartSerialsDesc, prometheus.GaugeValue, float64(n))
		}
	}
}

// serialTracker is written by the reader goroutine only, read by the
// poller and scrapes.
type serialTracker struct {
	firstSerial atomic.Uint32
	lastSerial  atomic.Uint32
}

func (s *serialTracker) see(serial uint32) {
	if serial == 0 {
		return
	}
	if s.firstSerial.Load() == 0 {
		s.firstSerial.Store(serial)
	}
	// Keep the highest serial (in rollover order): a late record of an
	// older event does not move it back.
	if last := s.lastSerial.Load(); last == 0 || int32(serial-last) > 0 {
		s.lastSerial.Store(serial)
	}
}
