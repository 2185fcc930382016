//go:build linux

package guard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

// Bounds.
const (
	// MinInterval bounds Config.Interval from below (a check lists every
	// kernel rule).
	MinInterval = time.Second
	// MaxSettle bounds Config.Settle.
	MaxSettle = 5 * time.Second
	// maxLoggedRules bounds how many rule texts one log line names.
	maxLoggedRules = 8
	// unloadDrain bounds Unload's wait for the records of its own
	// deletions to come through the stream.
	unloadDrain = 500 * time.Millisecond
)

// Config configures a Guard.
type Config struct {
	// Repair puts removed rules back (and, with RestoreEnabled, auditing
	// back on). Off, the guard only measures and logs.
	Repair bool
	// RestoreEnabled switches auditing back on when someone turns it off.
	// Set it only when this daemon owns the kernel configuration (unicast
	// mode); beside auditd the setting is auditd's.
	RestoreEnabled bool
	// Interval is the period of the background check.
	Interval time.Duration
	// Settle is the wait between a triggering record and the check, so a
	// burst (auditctl -D removes rules one by one) is answered once.
	Settle time.Duration
}

// DefaultConfig: repair on, check every 30 s, settle 100 ms.
func DefaultConfig() Config {
	return Config{Repair: true, Interval: 30 * time.Second, Settle: 100 * time.Millisecond}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Interval < MinInterval {
		errs = append(errs, fmt.Errorf("guard interval %s: must be at least %s", c.Interval, MinInterval))
	}
	if c.Settle < 0 || c.Settle > MaxSettle {
		errs = append(errs, fmt.Errorf("guard settle %s: want 0..%s", c.Settle, MaxSettle))
	}
	return errors.Join(errs...)
}

// Kernel is the kernel audit interface the guard needs;
// *netlink.Control implements it.
type Kernel interface {
	auditrules.Loader
	Status() (netlink.Status, error)
	SetEnabled(v uint32) error
}

// WantFunc returns the rules auditlkm wants now. It is called on every
// check, so that watches follow directories that appear or vanish.
type WantFunc func() ([]auditrules.Rule, error)

// Result is what one check found and did.
type Result struct {
	Missing   int      // wanted rules the kernel lacked
	Others    int      // kernel rules that are not auditlkm's
	Added     int      // rules put back (or newly placed)
	Replaced  int      // stale rules of ours deleted after their replacement
	Enabled   bool     // auditing was switched back on
	Immutable bool     // the kernel configuration is locked
	Disarmed  bool     // the guard was disarmed: nothing was looked at
	Lines     []string // "file:line" of the rules added, at most maxLoggedRules
}

// Guard compares and repairs. Build it with New.
type Guard struct {
	cfg  Config
	k    Kernel
	want WantFunc
	log  *slog.Logger
	m    *Metrics

	kick chan struct{} // buffered 1: Observe never blocks
	// keyed are the events keyed to a watched path whose PATH records
	// decide whether they trigger a check (see Observe).
	keyed keyedEvents
	// selfPID marks SYSCALL records of this process; selfSends counts
	// them (Unload waits for the ones its deletions cause).
	selfPID   []byte
	selfSends atomic.Int64

	mu       sync.Mutex // serialises checks and guards the fields below
	owned    [][]byte
	disarmed bool
	lockLog  bool // the immutable state was logged
}

// New returns a Guard. owned are the rules already added by the caller
// (auditrules.LoadResult.Added); the guard may delete them only when they
// are replaced. log and m may be nil.
func New(cfg Config, k Kernel, want WantFunc, owned [][]byte, log *slog.Logger, m *Metrics) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new guard: %w", err)
	}
	if k == nil || want == nil {
		return nil, errors.New("new guard: nil kernel or want")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{cfg: cfg, k: k, want: want, log: log, m: m, kick: make(chan struct{}, 1),
		selfPID: []byte(" pid=" + strconv.Itoa(os.Getpid()) + " ")}
	for _, w := range owned {
		g.owned = append(g.owned, bytes.Clone(w))
	}
	m.setOwned(len(g.owned))
	return g, nil
}

// Run checks every Interval and soon after a triggering record until ctx
// is done. It returns nil on cancellation.
func (g *Guard) Run(ctx context.Context) error {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			g.runCheck(TriggerPeriodic)
		case <-g.kick:
			if g.cfg.Settle > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(g.cfg.Settle):
				}
			}
			g.runCheck(TriggerRecord)
		}
	}
}

func (g *Guard) runCheck(trigger string) {
	if _, err := g.Check(trigger); err != nil {
		g.log.Error("audit rule check failed", "trigger", trigger, "err", err)
	}
}

// selfPIDWithin bounds how far into a SYSCALL record the pid field is
// looked for: the fields before it are numbers, at most about 200 bytes.
const selfPIDWithin = 256

// Observe looks at one record and schedules a check when it shows a rule
// removed, auditing disabled, or the file tree of a watched configuration
// path or of the modules changed: a directory, symlink or anything but a
// regular file created, removed or renamed there (only that changes the
// rules wanted, see auditrules' watches). It never blocks and is cheap
// for every other record.
//
// An event keyed to a watched path (auditlkm-config, auditlkm-ko) is
// decided by its PATH records, which follow its SYSCALL record: one
// created or deleted (renamed away) that is not a regular file triggers;
// its EOE record ends it otherwise. So a storm of configuration files
// written, renamed and removed (each an alert) does not re-check the
// rules after each, while a directory swapped among them still does at
// once. An io_uring operation triggers as its URINGOP record comes, and
// so does any keyed event while more than maxKeyed are undecided (their
// records lost or late).
func (g *Guard) Observe(rec *auditevent.Record) {
	switch rec.Type {
	case auparse.AUDIT_SYSCALL:
		// pid= comes within the first fields (arch syscall success exit
		// a0-a3 items ppid pid): no need to scan comm, exe and key.
		b := rec.Body()
		if len(b) > selfPIDWithin {
			b = b[:selfPIDWithin]
		}
		// 'i' (of " pid=") is rare before the pid: hex arguments never
		// have it.
		if containsAnchored(b, g.selfPID, 2) {
			g.selfSends.Add(1)
		}
		if keyedToWatch(rec) && !g.keyed.add(rec.Serial) {
			g.trigger()
		}
	case auparse.AUDIT_PATH:
		if g.keyed.has(rec.Serial) && structural(rec.Body()) {
			g.keyed.remove(rec.Serial)
			g.trigger()
		}
	case auparse.AUDIT_EOE:
		if g.keyed.has(rec.Serial) {
			g.keyed.remove(rec.Serial)
		}
	case auparse.AUDIT_URINGOP:
		if keyedToWatch(rec) {
			g.trigger()
		}
	case auparse.AUDIT_CONFIG_CHANGE:
		b := rec.Body()
		if bytes.Contains(b, []byte("op=remove_rule")) || bytes.Contains(b, []byte("audit_enabled=0")) {
			g.trigger()
		}
	}
}

func (g *Guard) trigger() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// keyedToWatch reports whether a SYSCALL or URINGOP record is keyed to a
// watched configuration path or the module tree. Anchored on the quote: a
// SYSCALL record has a few quotes and hundreds of spaces.
func keyedToWatch(rec *auditevent.Record) bool {
	b := rec.Body()
	return containsAnchored(b, []byte(` key="auditlkm-config"`), 5) || containsAnchored(b, []byte(` key="auditlkm-ko"`), 5)
}

// File type bits of a PATH record's mode.
const (
	modeTypeMask = 0o170000
	modeRegular  = 0o100000
)

// structural reports whether a PATH record's body shows a change of the
// file tree that can change the rules wanted: an entry created or deleted
// that is not a regular file (or whose type it does not show), or a
// nametype other than the usual ones. PARENT and NORMAL entries are only
// looked up or written to.
func structural(b []byte) bool {
	nt, _ := auditevent.Lookup(b, "nametype")
	switch string(nt.Value) {
	case "PARENT", "NORMAL":
		return false
	case "CREATE", "DELETE":
	default:
		return true
	}
	mode, _ := auditevent.Lookup(b, "mode")
	m, err := strconv.ParseUint(string(mode.Value), 8, 32)
	return err != nil || m&modeTypeMask != modeRegular
}

// maxKeyed bounds the keyed events awaiting their PATH records.
const maxKeyed = 64

// keyedEvents is a small set of event serials, safe for concurrent use;
// has is one atomic load while it is empty.
type keyedEvents struct {
	n       atomic.Int32
	mu      sync.Mutex
	serials [maxKeyed]uint32
}

// add adds serial; false when the set is full (it is then emptied: the
// caller checks instead).
func (k *keyedEvents) add(serial uint32) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := int(k.n.Load())
	if n == maxKeyed {
		k.n.Store(0)
		return false
	}
	k.serials[n] = serial
	k.n.Store(int32(n + 1))
	return true
}

func (k *keyedEvents) has(serial uint32) bool {
	if k.n.Load() == 0 {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, s := range k.serials[:k.n.Load()] {
		if s == serial {
			return true
		}
	}
	return false
}

func (k *keyedEvents) remove(serial uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := int(k.n.Load())
	for i, s := range k.serials[:n] {
		if s == serial {
			k.serials[i] = k.serials[n-1]
			k.n.Store(int32(n - 1))
			return
		}
	}
}

// ObserveBatch is Observe for every record of b: the guard's hook on the
// live record stream (a netlink.BatchHook, on the reader's goroutine). It
// never fails.
func (g *Guard) ObserveBatch(b []auditevent.Record) error {
	for i := range b {
		g.Observe(&b[i])
	}
	return nil
}

// Disarm stops every further repair, waiting for a check in progress, and
// returns the rules the guard owns for the caller to unload.
func (g *Guard) Disarm() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.disarmed = true
	return append([][]byte(nil), g.owned...)
}

// Unload disarms the guard, deletes the rules it owns (the ones the caller
// passed to New and the ones it put back) and then waits, at most
// unloadDrain, until the SYSCALL records of those deletions have come
// through Observe: the kernel queues them behind the CONFIG_CHANGE
// records, and without them the tamper detection could not tell the
// deletions were this process's own. Call it before releasing the pid.
func (g *Guard) Unload() error {
	owned := g.Disarm()
	before := g.selfSends.Load()
	err := auditrules.Unload(g.k, owned)
	g.mu.Lock()
	g.owned = nil
	g.mu.Unlock()
	g.m.setOwned(0)
	deadline := time.Now().Add(unloadDrain)
	for g.selfSends.Load()-before < int64(len(owned)) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("unload audit rules: %w", err)
	}
	g.log.Info("removed the audit rules auditlkm loaded", "rules", len(owned))
	return nil
}

// Owned returns a copy of the rules the guard owns now.
func (g *Guard) Owned() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.owned...)
}

// Check compares the kernel with the wanted rules once and repairs what
// it may. trigger labels the metric.
func (g *Guard) Check(trigger string) (Result, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.disarmed {
		return Result{Disarmed: true}, nil
	}
	want, err := g.want()
	if err != nil {
		g.m.failed("rules")
		return Result{}, fmt.Errorf("wanted audit rules: %w", err)
	}
	have, err := g.k.Rules()
	if err != nil {
		g.m.failed("kernel")
		return Result{}, fmt.Errorf("list kernel rules: %w", err)
	}
	d, err := auditrules.Compare(have, want)
	if err != nil {
		g.m.failed("rules")
		return Result{}, err
	}
	// Owned rules no longer wanted (a path= watch whose directory now
	// exists, or the other way round).
	od, err := auditrules.Compare(g.owned, want)
	if err != nil {
		g.m.failed("rules")
		return Result{}, err
	}
	res := Result{Missing: len(d.Missing), Others: len(d.Others)}
	defer func() { g.m.checked(trigger, res.Missing, res.Others, len(g.owned), float64(time.Now().Unix())) }()

	st, err := g.k.Status()
	if err != nil {
		g.m.failed("kernel")
		return res, fmt.Errorf("read audit status: %w", err)
	}
	disabled := st.Enabled == 0 && g.cfg.RestoreEnabled
	if len(d.Missing) == 0 && len(od.Others) == 0 && !disabled {
		g.lockLog = false
		return res, nil
	}
	if !g.cfg.Repair {
		g.log.Warn("audit rules differ from auditlkm's; repair is off (--audit.repair=false)",
			"missing", len(d.Missing), "stale", len(od.Others), "enabled", st.Enabled, "rules", lines(d.Missing))
		return res, nil
	}
	if err := auditrules.CheckImmutable(st.Enabled); err != nil {
		res.Immutable = true
		g.m.failed("immutable")
		if !g.lockLog {
			g.lockLog = true
			g.log.Error("cannot repair audit rules", "missing", len(d.Missing), "err", err)
		}
		return res, nil
	}
	if disabled {
		if err := g.k.SetEnabled(1); err != nil {
			g.m.failed("kernel")
			return res, fmt.Errorf("re-enable auditing: %w", err)
		}
		res.Enabled = true
		g.m.repaired("enabled", 1)
		g.log.Warn("kernel auditing was switched off by someone else; switched it back on", "trigger", trigger)
	}
	if len(d.Missing) > 0 {
		lr, err := auditrules.Load(g.k, d.Missing)
		if err != nil {
			g.m.failed("kernel")
			return res, fmt.Errorf("put back audit rules: %w", err)
		}
		for _, w := range lr.Added {
			g.own(w)
		}
		res.Added = len(lr.Added)
		res.Lines = lines(d.Missing)
		g.m.repaired("rule", res.Added)
		g.log.Warn("audit rules were missing from the kernel; put them back",
			"trigger", trigger, "added", res.Added, "missing", len(d.Missing), "rules", res.Lines)
	}
	if len(od.Others) > 0 {
		n, err := g.dropStale(od.Others)
		res.Replaced = n
		g.m.repaired("replaced", n)
		if err != nil {
			g.m.failed("kernel")
			return res, err
		}
		g.log.Info("replaced audit rules that no longer fit the file system", "removed", n)
	}
	return res, nil
}

// own adds w to the owned rules unless it is there already. g.mu is held.
func (g *Guard) own(w []byte) {
	for _, o := range g.owned {
		if bytes.Equal(o, w) {
			return
		}
	}
	g.owned = append(g.owned, bytes.Clone(w))
}

// dropStale deletes owned rules that are no longer wanted and forgets
// them. g.mu is held.
func (g *Guard) dropStale(stale [][]byte) (int, error) {
	var errs []error
	n := 0
	for _, s := range stale {
		err := g.k.DeleteRule(s)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete stale rule: %w", err))
			continue
		}
		n++
		for i, o := range g.owned {
			if bytes.Equal(o, s) {
				g.owned = append(g.owned[:i], g.owned[i+1:]...)
				break
			}
		}
	}
	return n, errors.Join(errs...)
}

func lines(rs []auditrules.Rule) []string {
	var out []string
	for i, r := range rs {
		if i == maxLoggedRules {
			out = append(out, fmt.Sprintf("... %d more", len(rs)-i))
			break
		}
		out = append(out, fmt.Sprintf("%s:%d", r.File, r.Line))
	}
	return out
}

// String renders a Result for logs and the CLI.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "missing=%d others=%d added=%d replaced=%d", r.Missing, r.Others, r.Added, r.Replaced)
	if r.Enabled {
		b.WriteString(" enabled=restored")
	}
	if r.Immutable {
		b.WriteString(" immutable")
	}
	return b.String()
}
