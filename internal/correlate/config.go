package correlate

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Defaults for Config.
const (
	DefaultStateDir       = "/var/lib/auditlkm"
	DefaultProcRoot       = "/proc"
	DefaultMaxProcesses   = 65536
	DefaultProcessTTL     = 10 * time.Minute
	DefaultMaxFiles       = 16384
	DefaultFileTTL        = 24 * time.Hour
	DefaultMaxSeen        = 100000
	DefaultSeenTTL        = 90 * 24 * time.Hour
	DefaultLearningPeriod = 24 * time.Hour
	DefaultLinkWindow     = 24 * time.Hour
	// The tables' byte budgets: 64 MiB in all, well under the systemd
	// unit's MemoryMax=512M (deploy/), whatever argv and paths an
	// unprivileged user makes the kernel record.
	DefaultMaxProcessBytes = 32 << 20
	DefaultMaxFileBytes    = 16 << 20
	DefaultMaxSeenBytes    = 16 << 20
)

// maxTableBytes bounds every byte budget a Config may ask for.
const maxTableBytes = 1 << 34

// maxTableEntries bounds every table cap a Config may ask for.
const maxTableEntries = 1 << 24

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("invalid correlate config")

// Config configures a Store.
type Config struct {
	// StateDir holds the persisted state file. Empty means in-memory
	// only: Load and Save do nothing (replays and tests).
	StateDir string
	// ProcRoot is the procfs mount used to seed the process table and to
	// look up unknown pids. Empty disables every /proc read, which is
	// what a replay of another host's (or another day's) log needs.
	ProcRoot string

	MaxProcesses int           // process table cap
	ProcessTTL   time.Duration // how long an exited process stays resolvable
	MaxFiles     int           // file provenance table cap
	FileTTL      time.Duration // how long a recorded write is remembered
	MaxSeen      int           // first-seen history cap
	SeenTTL      time.Duration // a value not seen again for this long is forgotten

	// Byte budgets of the tables (estimated: strings plus a fixed
	// overhead per entry). A table over its budget evicts, counted as
	// auditlkm_correlate_evictions_total{reason="bytes"}: the process
	// table exited processes first, then the least recently used.
	MaxProcessBytes, MaxFileBytes, MaxSeenBytes int64

	// LearningPeriod is how long after the very first start (persisted in
	// the state) Learning reports true. Zero disables learning. A store
	// with neither StateDir nor ProcRoot (a replay) counts it on the event
	// clock from the first event it observes instead.
	LearningPeriod time.Duration

	// LinkWindow is how long before a module load a write of its file or
	// of module configuration naming it is linked to it ("dropped then
	// loaded", "config then load"). Writes older than FileTTL are
	// forgotten whatever the window.
	LinkWindow time.Duration
}

// DefaultConfig returns the configuration of a live daemon.
func DefaultConfig() Config {
	return Config{
		StateDir:        DefaultStateDir,
		ProcRoot:        DefaultProcRoot,
		MaxProcesses:    DefaultMaxProcesses,
		ProcessTTL:      DefaultProcessTTL,
		MaxFiles:        DefaultMaxFiles,
		FileTTL:         DefaultFileTTL,
		MaxSeen:         DefaultMaxSeen,
		SeenTTL:         DefaultSeenTTL,
		MaxProcessBytes: DefaultMaxProcessBytes,
		MaxFileBytes:    DefaultMaxFileBytes,
		MaxSeenBytes:    DefaultMaxSeenBytes,
		LearningPeriod:  DefaultLearningPeriod,
		LinkWindow:      DefaultLinkWindow,
	}
}

// Validate reports the first nonsensical field.
func (c *Config) Validate() error {
	for _, p := range []struct{ name, v string }{{"state dir", c.StateDir}, {"proc root", c.ProcRoot}} {
		if p.v != "" && !filepath.IsAbs(p.v) {
			return fmt.Errorf("%w: %s %q is not absolute", ErrInvalidConfig, p.name, p.v)
		}
	}
	for _, t := range []struct {
		name string
		n    int
		ttl  time.Duration
	}{{"processes", c.MaxProcesses, c.ProcessTTL}, {"files", c.MaxFiles, c.FileTTL}, {"seen", c.MaxSeen, c.SeenTTL}} {
		if t.n < 1 || t.n > maxTableEntries {
			return fmt.Errorf("%w: %s cap %d not in [1, %d]", ErrInvalidConfig, t.name, t.n, maxTableEntries)
		}
		if t.ttl <= 0 {
			return fmt.Errorf("%w: %s ttl %v not positive", ErrInvalidConfig, t.name, t.ttl)
		}
	}
	for _, b := range []struct {
		name string
		n    int64
	}{{"processes", c.MaxProcessBytes}, {"files", c.MaxFileBytes}, {"seen", c.MaxSeenBytes}} {
		if b.n < 1<<16 || b.n > maxTableBytes {
			return fmt.Errorf("%w: %s byte budget %d not in [%d, %d]", ErrInvalidConfig, b.name, b.n, 1<<16, int64(maxTableBytes))
		}
	}
	if c.LinkWindow <= 0 {
		return fmt.Errorf("%w: link window %v not positive", ErrInvalidConfig, c.LinkWindow)
	}
	if c.LearningPeriod < 0 {
		return fmt.Errorf("%w: learning period %v is negative", ErrInvalidConfig, c.LearningPeriod)
	}
	return nil
}
