package ecs

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
)

// Version is the ECS version the documents follow (ecs.version).
const Version = "8.12.0"

// Bounds on one document. A value or array cut at a bound is listed in
// auditd.truncated_fields.
const (
	// MaxStringBytes bounds one string value (before escaping), except
	// the raw records, which auditevent already bounds to MaxRecordLen.
	MaxStringBytes = 8 << 10
	// MaxArrayLen bounds the elements of one array (args, paths, records,
	// keys, warnings).
	MaxArrayLen = 256
	// MaxRecordsBytes bounds the raw record text under auditd.records;
	// records past it are left out.
	MaxRecordsBytes = 1 << 20
	// keepBufBytes: WriteAlert drops a line buffer that grew larger than
	// this instead of keeping it for the next alert.
	keepBufBytes = 256 << 10
	// maxEncoderWarnings bounds the warnings the encoder itself adds.
	maxEncoderWarnings = 4
)

// Sentinel errors.
var (
	// ErrNilWriter: NewEncoder was given no writer.
	ErrNilWriter = errors.New("nil writer")
	// ErrNilAlert: WriteAlert was given no alert.
	ErrNilAlert = errors.New("nil alert")
)

// Host describes the machine running auditlkm. The caller fills it (from
// uname, os.Hostname and /etc/machine-id); empty fields are omitted. It is
// written as host.* for events that happened on this machine, and as
// observer.* when the event's host is another one (see Config).
type Host struct {
	Hostname string // host.hostname and host.name
	ID       string // host.id, the machine-id
	OSType   string // host.os.type, "linux"
	OSFamily string // host.os.family, e.g. "debian"
	OSKernel string // host.os.kernel, the uname release
	Arch     string // host.architecture, e.g. "x86_64"
	// Agent is the agent reporting from this host (agent.*).
	Agent Agent
}

// Agent is ECS agent.*: what Elastic's hunts count per value (H1 and H2
// count_distinct(agent.id)).
type Agent struct {
	ID      string // agent.id: stable across restarts (internal/identity)
	Name    string // agent.name, the host name
	Type    string // agent.type, "auditlkm"
	Version string // agent.version
}

// Config configures an Encoder.
type Config struct {
	// IncludeRecords adds the event's raw records under auditd.records.
	IncludeRecords bool
	// UnknownSource says that events without a node name did not
	// necessarily happen on the machine running auditlkm (a replayed log
	// may come from anywhere): they get no host.*, only observer.* for
	// the machine running auditlkm. False (run, plugin): such events are
	// this machine's, written as host.*. Events with a node name
	// (auditd's node=) always get host.name = the node and observer.*.
	UnknownSource bool
}

// DefaultConfig returns the default configuration: records included.
func DefaultConfig() Config { return Config{IncludeRecords: true} }

// Validate reports whether c is usable. Every Config currently is.
func (c Config) Validate() error { return nil }

// Encoder writes alerts as ECS JSON, one document per line. An Encoder
// must be used from one goroutine: it reuses its buffers between calls.
type Encoder struct {
	w    io.Writer
	host Host
	cfg  Config
	now  func() time.Time // for @timestamp when the event has no usable time

	wr    writer
	buf   []byte // line buffer of WriteAlert, reused
	warns [maxEncoderWarnings]string
	nwarn int

	rules     []ruleBlock // the rule objects encoded last (appendRuleBlock)
	nextBlock int         // the block to replace next when rules is full

	procs    []*procBlocks // the process objects encoded last (procBlocksFor)
	nextProc int           // the set to replace next when procs is full
	// localHost is agent.* and host.* (or observer.*) of events without a
	// node name: the same for each.
	localHost block
	// evBlocks are the encodings that depend only on the event last
	// encoded: the detections an event matches (a kmod tool's load from an
	// unusual place raises two alerts) share them.
	evBlocks eventBlocks
}

// eventBlocks are the encodings that depend only on one event: its
// auditd.data/result/summary fields and auditd.records. ev is held so
// that its address cannot be reused for another event while remembered;
// events are not changed once built.
type eventBlocks struct {
	ev      *auditevent.Event
	fields  block // appendAuditdEvent
	records block // appendRecords
}

// eventBlocksFor returns the remembered encodings of ev, cleared when they
// were of another event.
func (e *Encoder) eventBlocksFor(ev *auditevent.Event) *eventBlocks {
	b := &e.evBlocks
	if b.ev != ev {
		b.ev = ev
		b.fields.valid, b.records.valid = false, false
	}
	return b
}

// ruleBlock is the encoding of a rule's rule and threat objects, which
// depends only on the definition's fields below (and on whether a comma
// precedes it, which block checks): the alerts of a storm share it.
type ruleBlock struct {
	id, name, desc string
	threat         detections.Threat
	b              block
}

// maxRuleBlocks bounds the rule encodings an Encoder remembers.
const maxRuleBlocks = 16

// appendRuleBlock is appendRule, taking the bytes from the encoding of
// the same rule remembered from an earlier alert (see block).
func (e *Encoder) appendRuleBlock(w *writer, r *detections.Definition) {
	if r == nil {
		return
	}
	enc := func() { appendRule(w, r) }
	for i := range e.rules {
		if rb := &e.rules[i]; rb.id == r.ID && rb.name == r.Name && rb.desc == r.Description && rb.threat == r.Threat {
			w.cached(&rb.b, enc)
			return
		}
	}
	var rb *ruleBlock
	if len(e.rules) < maxRuleBlocks {
		e.rules = append(e.rules, ruleBlock{})
		rb = &e.rules[len(e.rules)-1]
	} else {
		rb = &e.rules[e.nextBlock]
		e.nextBlock = (e.nextBlock + 1) % maxRuleBlocks
	}
	rb.id, rb.name, rb.desc, rb.threat = r.ID, r.Name, r.Description, r.Threat
	w.encode(&rb.b, enc)
}

// NewEncoder returns an Encoder writing to w. It never closes w.
func NewEncoder(w io.Writer, host Host, cfg Config) (*Encoder, error) {
	if w == nil {
		return nil, fmt.Errorf("new ecs encoder: %w", ErrNilWriter)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new ecs encoder: %w", err)
	}
	return &Encoder{w: w, host: host, cfg: cfg, now: time.Now}, nil
}

// WriteAlert encodes a as one line (ending in '\n') and writes it to the
// writer with a single Write call.
func (e *Encoder) WriteAlert(a *detections.Alert) error {
	if a == nil {
		return fmt.Errorf("write alert: %w", ErrNilAlert)
	}
	e.buf = append(e.AppendAlert(e.buf[:0], a), '\n')
	n, err := e.w.Write(e.buf)
	if err == nil && n != len(e.buf) {
		err = io.ErrShortWrite
	}
	if cap(e.buf) > keepBufBytes {
		e.buf = nil
	}
	if err != nil {
		id := ""
		if a.Rule != nil {
			id = a.Rule.ID
		}
		return fmt.Errorf("write alert %q: %w", id, err)
	}
	return nil
}

// AppendAlert appends a's ECS JSON document (without a newline) to dst and
// returns the extended slice. A nil alert appends nothing. It never fails:
// bad input becomes escaped, replaced, truncated or noted fields.
func (e *Encoder) AppendAlert(dst []byte, a *detections.Alert) []byte {
	return e.appendDoc(dst, a, true)
}

// AppendEventDoc appends the event behind a as an ECS event document
// (event.kind "event", dataset auditlkm.event): the same process, user,
// file and auditd fields as the alert, classified as the detection saw it
// (event.category, type and action), without rule, threat, severity or
// reason. Elastic's hunts over raw events (H2: .ko creations, kmod
// arguments) run on these documents unchanged.
func (e *Encoder) AppendEventDoc(dst []byte, a *detections.Alert) []byte {
	return e.appendDoc(dst, a, false)
}

func (e *Encoder) appendDoc(dst []byte, a *detections.Alert, alert bool) []byte {
	if a == nil {
		return dst
	}
	w := &e.wr
	w.reset(dst)
	e.nwarn = 0
	ev := a.Event

	ts, ok := eventTime(ev)
	if l := a.KernelLog; l != nil && !l.Time.IsZero() {
		// A kernel-log alert is dated by its line (the reader converts
		// the kernel's time since boot), even when tied to a load.
		ts, ok = unixMilli(l.Time.UnixMilli())
	}
	if !ok && a.CrossView != nil && !a.CrossView.At.IsZero() {
		ts, ok = a.CrossView.At, true // when the kernel was read
	}
	if !ok {
		ts = e.now()
		e.warn("event time missing or out of range: @timestamp is the encoding time")
	}
	w.field("@timestamp")
	w.b = appendTime(w.b, ts)
	w.open("ecs")
	w.str("version", Version)
	w.close()
	if a.KernelLog != nil {
		w.str("message", a.KernelLog.Message)
	}

	e.appendEvent(w, a, ev, alert)
	if alert {
		e.appendRuleBlock(w, a.Rule)
	}
	e.appendHost(w, ev)
	pb := e.procBlocksFor(a)
	w.cached(&pb.process, func() { appendProcess(w, a) })
	appendUser(w, a, ev)
	appendFile(w, a.File, ev, a.ModuleFile)
	appendRelatedHash(w, a.ModuleFile)
	e.appendAuditd(w, a, ev, pb)

	out := w.finish()
	w.b = nil // do not keep the caller's buffer
	return out
}

func (e *Encoder) warn(s string) {
	if e.nwarn < len(e.warns) {
		e.warns[e.nwarn] = s
		e.nwarn++
	}
}

// eventTime returns the event's time if it has one that RFC 3339 can
// express (years 1970 to 9999).
func eventTime(ev *auditevent.Event) (time.Time, bool) {
	if ev == nil || len(ev.Records) == 0 {
		return time.Time{}, false
	}
	return unixMilli(ev.UnixMilli())
}

func unixMilli(ms int64) (time.Time, bool) {
	t := time.UnixMilli(ms).UTC()
	if ms < 0 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// appendTime appends t as a quoted RFC 3339 UTC time with milliseconds.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		b = t.AppendFormat(b, timeLayout)
		return append(b, '"')
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6 // truncated, as the layout's .000
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, ms, 3)
	return append(b, 'Z', '"')
}

// timeLayout is the layout appendTime writes (by hand for years 0-9999).
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// appendDigits appends v (0 <= v < 10^n) as n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	var d [4]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

// sameProcess reports whether the event's SYSCALL record describes p.
func sameProcess(ev *auditevent.Event, p *auditevent.Process) bool {
	return ev != nil && ev.HasSyscall && p.PID > 0 && ev.Syscall.PID == p.PID
}

func (e *Encoder) appendEvent(w *writer, a *detections.Alert, ev *auditevent.Event, alert bool) {
	w.open("event")
	kind := "event"
	if alert {
		kind = "alert"
	}
	w.str("kind", kind)
	w.str("module", "auditlkm")
	w.str("dataset", "auditlkm."+kind)
	w.strs("category", a.Category)
	w.strs("type", a.Type)
	w.str("action", a.Action)
	if ev != nil && len(ev.Records) > 0 {
		w.int("sequence", int64(ev.Serial))
	}
	if !alert {
		appendOutcome(w, ev)
		w.close()
		return
	}
	sev, risk := a.Severity, a.RiskScore
	if a.Rule != nil {
		if sev <= 0 {
			sev = a.Rule.Severity
		}
		if risk <= 0 {
			risk = a.Rule.RiskScore
		}
	}
	if sev > 0 {
		w.int("severity", int64(sev))
	}
	w.int("risk_score", int64(min(max(risk, 0), 100)))
	appendOutcome(w, ev)
	w.str("reason", a.Reason)
	w.close()
}

func appendOutcome(w *writer, ev *auditevent.Event) {
	if ev != nil && ev.HasSyscall {
		switch ev.Syscall.Success {
		case auditevent.SuccessYes:
			w.str("outcome", "success")
		case auditevent.SuccessNo:
			w.str("outcome", "failure")
		}
	}
}

func appendRule(w *writer, r *detections.Definition) {
	if r == nil {
		return
	}
	t := &r.Threat
	w.open("rule")
	w.str("id", r.ID)
	w.str("name", r.Name)
	w.str("description", r.Description)
	w.str("ruleset", "auditlkm")
	if id := mostSpecific(t); validAttackID(id) {
		w.field("reference")
		w.b = appendAttackURL(w.b, id)
	}
	w.close()

	if t.TacticID == "" && t.TechniqueID == "" && t.SubtechniqueID == "" {
		return
	}
	w.open("threat")
	w.str("framework", "MITRE ATT&CK")
	if t.TacticID != "" {
		w.open("tactic")
		w.strs("id", []string{t.TacticID})
		w.strs("name", []string{t.TacticName})
		w.attackRefs([]string{t.TacticID})
		w.close()
	}
	// threat.technique.* lists the technique and, after it, the
	// sub-technique, so that threat.technique.id:"T1547.006" matches;
	// the three arrays stay parallel.
	var ids, names [2]string
	n := 0
	if t.TechniqueID != "" {
		ids[n], names[n] = t.TechniqueID, t.TechniqueName
		n++
	}
	if t.SubtechniqueID != "" {
		ids[n], names[n] = t.SubtechniqueID, t.SubName
		n++
	}
	if n > 0 {
		w.open("technique")
		w.strs("id", ids[:n])
		w.strs("name", names[:n])
		w.attackRefs(ids[:n])
		if t.SubtechniqueID != "" {
			w.open("subtechnique")
			w.strs("id", ids[n-1:n])
			w.strs("name", names[n-1:n])
			w.attackRefs(ids[n-1 : n])
			w.close()
		}
		w.close()
	}
	w.close()
}

func mostSpecific(t *detections.Threat) string {
	switch {
	case t.SubtechniqueID != "":
		return t.SubtechniqueID
	case t.TechniqueID != "":
		return t.TechniqueID
	}
	return t.TacticID
}

// attackRefs writes the "reference" array of ATT&CK URLs for ids, or
// nothing if any id is not a well-formed ATT&CK id.
func (w *writer) attackRefs(ids []string) {
	for _, id := range ids {
		if !validAttackID(id) {
			return
		}
	}
	w.field("reference")
	w.b = append(w.b, '[')
	for i, id := range ids {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendAttackURL(w.b, id)
	}
	w.b = append(w.b, ']')
}

// validAttackID accepts TAnnnn, Tnnnn and Tnnnn.nnn: ids whose URL can be
// written without escaping.
func validAttackID(id string) bool {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	switch {
	case len(id) == 6 && id[:2] == "TA":
		return digits(id[2:])
	case len(id) == 5 && id[0] == 'T':
		return digits(id[1:])
	case len(id) == 9 && id[0] == 'T' && id[5] == '.':
		return digits(id[1:5]) && digits(id[6:])
	}
	return false
}

// appendAttackURL appends the quoted attack.mitre.org URL of a valid id.
func appendAttackURL(b []byte, id string) []byte {
	b = append(b, `"https://attack.mitre.org/`...)
	if id[1] == 'A' {
		b = append(b, "tactics/"...)
	} else {
		b = append(b, "techniques/"...)
	}
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			b = append(b, '/')
		} else {
			b = append(b, id[i])
		}
	}
	return append(b, '/', '"')
}

// appendHost writes host.* for the machine the event happened on, and
// observer.* for the machine running auditlkm when that is not known to be
// the same one. A node name is all auditd tells of a remote host: its
// hostname, id, OS and architecture are unknown and left out.
func (e *Encoder) appendHost(w *writer, ev *auditevent.Event) {
	if ev == nil || ev.Node == "" {
		w.cached(&e.localHost, func() { e.appendHostOf(w, ev) })
		return
	}
	e.appendHostOf(w, ev)
}

func (e *Encoder) appendHostOf(w *writer, ev *auditevent.Event) {
	// agent.* is this auditlkm, whichever host the event happened on.
	if ag := &e.host.Agent; ag.ID != "" || ag.Type != "" {
		w.open("agent")
		w.str("id", ag.ID)
		w.str("name", ag.Name)
		w.str("type", ag.Type)
		w.str("version", ag.Version)
		w.close()
	}
	// Only a Linux kernel writes audit records, so host.os.type is known
	// for every source (Elastic's hunts filter on it).
	if ev != nil && ev.Node != "" {
		w.open("host")
		w.str("name", ev.Node)
		w.open("os")
		w.str("type", "linux")
		w.close()
		w.close()
		e.appendObserver(w)
		return
	}
	if e.cfg.UnknownSource {
		w.open("host")
		w.open("os")
		w.str("type", "linux")
		w.close()
		w.close()
		e.appendObserver(w)
		return
	}
	h := &e.host
	w.open("host")
	w.str("hostname", h.Hostname)
	w.str("name", h.Hostname)
	w.str("id", h.ID)
	w.str("architecture", h.Arch)
	w.open("os")
	w.str("type", h.OSType)
	w.str("family", h.OSFamily)
	w.str("kernel", h.OSKernel)
	w.close()
	w.close()
}

// appendObserver writes the machine running auditlkm as observer.*.
func (e *Encoder) appendObserver(w *writer) {
	h := &e.host
	w.open("observer")
	w.str("hostname", h.Hostname)
	w.str("product", "auditlkm")
	w.open("os")
	w.str("type", h.OSType)
	w.str("family", h.OSFamily)
	w.str("kernel", h.OSKernel)
	w.close()
	w.close()
}

func appendProcess(w *writer, a *detections.Alert) {
	p := &a.Process
	w.open("process")
	appendProcessFields(w, p)
	w.open("parent")
	ppid := p.PPID
	if a.Parent != nil && a.Parent.PID > 0 {
		ppid = a.Parent.PID
	}
	if ppid > 0 {
		w.int("pid", int64(ppid))
	}
	if a.Parent != nil {
		q := *a.Parent
		q.PID = 0 // written above
		appendProcessFields(w, &q)
	}
	w.close()
	appendEntryLeader(w, a)
	w.close()
}

func appendProcessFields(w *writer, p *auditevent.Process) {
	appendProcessIdentity(w, p)
	if len(p.Args) > 0 {
		w.strs("args", p.Args)
		w.int("args_count", int64(len(p.Args)))
		w.joined("command_line", p.Args)
	}
	if len(p.Title) > 0 {
		// The PROCTITLE where it disagrees with the exec's arguments.
		w.joined("title", p.Title)
	}
	w.str("working_directory", p.Cwd)
	appendProcessStart(w, p)
}

// appendProcessIdentity writes what identifies a process: pid,
// executable and name. Ancestors beyond the parent get only this (and
// their start): their arguments can be kilobytes each (an init's or an
// agent's environment on its command line) and would repeat in every alert.
func appendProcessIdentity(w *writer, p *auditevent.Process) {
	if p.PID > 0 {
		w.int("pid", int64(p.PID))
	}
	w.str("executable", p.Exe)
	w.str("name", p.Name())
}

func appendProcessStart(w *writer, p *auditevent.Process) {
	if t, ok := unixMilli(p.StartMilli); ok && p.StartMilli > 0 {
		w.field("start")
		w.b = appendTime(w.b, t)
	}
}

// joined writes args joined by spaces as one string, cut at
// MaxStringBytes, without building the joined string unless it must be
// noted.
func (w *writer) joined(key string, args []string) {
	w.field(key)
	w.b = append(w.b, '"')
	budget := MaxStringBytes
	lossy, cut := false, false
	for i, s := range args {
		if i > 0 {
			if budget == 0 {
				cut = true
				break
			}
			w.b = append(w.b, ' ')
			budget--
		}
		if len(s) > budget {
			s, cut = s[:budget], true
		}
		var l bool
		w.b, l = appendStringBody(w.b, s)
		lossy = lossy || l
		budget -= len(s)
		if cut {
			break
		}
	}
	w.b = append(w.b, '"')
	if cut {
		w.truncated = append(w.truncated, w.dotted(key, -1))
	}
	if lossy {
		raw := strings.Join(args, " ")
		if len(raw) > MaxStringBytes {
			raw = raw[:MaxStringBytes]
		}
		w.lossy = append(w.lossy, note{name: w.dotted(key, -1), raw: raw})
	}
}

func appendUser(w *writer, a *detections.Alert, ev *auditevent.Event) {
	p := &a.Process
	if p.PID <= 0 {
		return // a zero Process would claim uid 0
	}
	w.open("user")
	if p.UID != auditevent.Unset {
		w.uintStr("id", uint64(p.UID))
	}
	if sameProcess(ev, p) && ev.Syscall.EUID != auditevent.Unset {
		w.open("effective")
		w.uintStr("id", uint64(ev.Syscall.EUID))
		w.close()
	}
	w.close()
	if sameProcess(ev, p) && ev.Syscall.GID != auditevent.Unset {
		w.open("group")
		w.uintStr("id", uint64(ev.Syscall.GID))
		w.close()
	}
}

// File type bits of a PATH record's mode.
const (
	modeTypeMask = 0o170000
	modeRegular  = 0o100000
	modeDir      = 0o040000
	modeSymlink  = 0o120000
)

func appendFile(w *writer, f *detections.File, ev *auditevent.Event, mf *detections.ModuleFile) {
	if f == nil || f.Path == "" {
		return
	}
	w.open("file")
	w.str("path", f.Path)
	dir, name := splitPath(f.Path)
	w.str("name", name)
	w.str("directory", dir)
	if k := strings.LastIndexByte(name, '.'); k > 0 && k < len(name)-1 {
		w.str("extension", name[k+1:])
	}
	if p := matchPath(ev, f.Path); p != nil {
		if p.Inode != 0 {
			w.uintStr("inode", p.Inode)
		}
		w.str("device", p.Dev)
		if p.Mode != 0 {
			w.field("mode")
			w.b = appendOctal(w.b, p.Mode&0o7777, 4, true)
			switch p.Mode & modeTypeMask {
			case modeRegular:
				w.str("type", "file")
			case modeDir:
				w.str("type", "dir")
			case modeSymlink:
				w.str("type", "symlink")
			}
			if p.OUID != auditevent.Unset {
				w.uintStr("uid", uint64(p.OUID))
			}
		}
	}
	switch {
	case mf == nil || mf.Path != f.Path:
	case mf.Info != nil && mf.Info.SHA256 != "":
		appendModuleFileECS(w, mf.Info)
	case kernelSHA256(mf) != "":
		// Not read (deleted since the load): the kernel's hash of what it
		// read stands.
		w.open("hash")
		w.str("sha256", kernelSHA256(mf))
		w.close()
	}
	w.close()
}

// splitPath splits an absolute path into directory and final element;
// a path without '/' has no directory.
func splitPath(p string) (dir, name string) {
	k := strings.LastIndexByte(p, '/')
	switch {
	case k < 0:
		return "", p
	case k == 0:
		return "/", p[1:]
	}
	return p[:k], p[k+1:]
}

// matchPath returns the event's PATH record for path, preferring one that
// is not the PARENT directory entry.
func matchPath(ev *auditevent.Event, path string) *auditevent.Path {
	if ev == nil {
		return nil
	}
	var found *auditevent.Path
	for i := range ev.Paths {
		p := &ev.Paths[i]
		name := p.Resolved
		if name == "" {
			name = p.Name
		}
		if name != path {
			continue
		}
		if p.Nametype != "PARENT" {
			return p
		}
		if found == nil {
			found = p
		}
	}
	return found
}

// appendOctal appends v in octal with a leading zero and at least width
// digits, quoted if q.
func appendOctal(b []byte, v uint32, width int, q bool) []byte {
	if q {
		b = append(b, '"')
	}
	var tmp [12]byte
	s := strconv.AppendUint(tmp[:0], uint64(v), 8)
	b = append(b, '0')
	for i := len(s) + 1; i < width; i++ {
		b = append(b, '0')
	}
	b = append(b, s...)
	if q {
		b = append(b, '"')
	}
	return b
}

func (e *Encoder) appendAuditd(w *writer, a *detections.Alert, ev *auditevent.Event, pb *procBlocks) {
	w.open("auditd")
	if ev != nil && len(ev.Records) > 0 {
		w.int("sequence", int64(ev.Serial))
	}
	if a.Aggregated > 0 {
		// A summary of an alert storm: it stands for this many identical
		// alerts (same detection, process and file) of its window.
		w.int("aggregated_count", int64(a.Aggregated))
	}
	var eb *eventBlocks
	if ev != nil {
		eb = e.eventBlocksFor(ev)
		w.cached(&eb.fields, func() { appendAuditdEvent(w, ev) })
	}
	if p := &a.Process; p.PID > 0 && p.AUID != auditevent.Unset {
		w.open("user")
		w.open("audit")
		w.uintStr("id", uint64(p.AUID))
		w.close()
		w.close()
	}
	if a.File != nil {
		w.open("file")
		w.str("original_path", a.File.OriginalPath)
		w.close()
	}
	if a.Rule != nil {
		w.open("rule")
		w.strs("covers", a.Rule.Covers)
		w.close()
	}
	appendModule(w, a.ModuleFile)
	appendKernelLog(w, a.KernelLog)
	// The exclusion whose criteria matched but whose provenance was not
	// proven ("system-agent/not-package-owned").
	w.str("exclusion_refused", a.ExclusionRefused)
	w.cached(&pb.ancestry, func() { appendAncestry(w, a) })
	appendRelated(w, a)
	appendCrossView(w, a.CrossView)
	appendFirstSeen(w, a)
	if ev != nil && e.cfg.IncludeRecords {
		w.cached(&eb.records, func() { appendRecords(w, ev.Records) })
	}
	e.appendWarnings(w, ev)
	appendNotes(w)
	w.close()
}

func appendAuditdEvent(w *writer, ev *auditevent.Event) {
	s := &ev.Syscall
	if ev.HasSyscall {
		switch s.Success {
		case auditevent.SuccessYes:
			w.str("result", "success")
		case auditevent.SuccessNo:
			w.str("result", "fail")
		}
		if s.Session != auditevent.Unset {
			w.uintStr("session", uint64(s.Session))
		}
	}
	w.str("node", ev.Node)
	if ev.Completion != 0 {
		w.str("completion", ev.Completion.String())
	}
	if ev.ArgvPartial {
		w.bool("argv_partial", true)
	}
	w.open("data")
	if ev.HasSyscall {
		if s.Name != "" {
			w.str("syscall", s.Name)
		} else {
			w.field("syscall")
			w.b = append(w.b, '"')
			w.b = strconv.AppendInt(w.b, int64(s.Number), 10)
			w.b = append(w.b, '"')
		}
		if s.IsURing {
			// The operation itself; syscall names the system call it
			// stands for (renameat2 for IORING_OP_RENAMEAT).
			if op := auditevent.URingOpName(s.URingOp); op != "" {
				w.str("uring_op", op)
			} else {
				w.str("uring_op", strconv.Itoa(s.URingOp))
			}
		}
		// A URINGOP record without a SYSCALL record carries no arch and
		// no arguments: none are made up.
		hasArch := !s.IsURing || s.Arch != 0
		if hasArch {
			if s.ArchName != "" {
				w.str("arch", s.ArchName)
			} else {
				w.field("arch")
				w.b = append(w.b, '"')
				w.b = strconv.AppendUint(w.b, uint64(s.Arch), 16)
				w.b = append(w.b, '"')
			}
		}
		w.int("exit", s.Exit)
		if hasArch {
			for i, key := range [...]string{"a0", "a1", "a2", "a3"} {
				w.field(key)
				w.b = append(w.b, '"')
				w.b = strconv.AppendUint(w.b, s.Args[i], 16)
				w.b = append(w.b, '"')
			}
		}
		if s.TTY != "(none)" {
			w.str("tty", s.TTY)
		}
		w.str("subj", s.Subj)
		w.strs("key", s.Keys)
	}
	if ev.HasModule {
		w.str("name", ev.Module)
	}
	w.close()
	if len(ev.Paths) > 0 {
		w.objects("paths", len(ev.Paths), func(i int) {
			p := &ev.Paths[i]
			if p.Item >= 0 {
				w.int("item", int64(p.Item))
			}
			w.str("name", p.Name)
			w.str("resolved", p.Resolved)
			w.str("nametype", p.Nametype)
			if p.Inode != 0 {
				w.uint("inode", p.Inode)
			}
			w.str("dev", p.Dev)
			if p.Mode != 0 {
				w.field("mode")
				w.b = appendOctal(w.b, p.Mode, 0, true) // as the kernel logs it
			}
			if p.OUID != auditevent.Unset {
				w.uint("ouid", uint64(p.OUID))
			}
		})
	}
}

// appendRecords writes the records as Record.Line renders them, in
// arrival order, bounded by MaxArrayLen and MaxRecordsBytes.
func appendRecords(w *writer, recs []auditevent.Record) {
	if len(recs) == 0 {
		return
	}
	w.field("records")
	w.b = append(w.b, '[')
	total := 0
	for i := range recs {
		r := &recs[i]
		total += len(r.Text) + len(r.Node)
		if i == MaxArrayLen || total > MaxRecordsBytes {
			w.truncated = append(w.truncated, w.dotted("records", -1))
			break
		}
		if i > 0 {
			w.b = append(w.b, ',')
		}
		// The same bytes as appendString(r.Line()), without building it.
		var lossy, l bool
		w.b = append(w.b, '"')
		if r.Node != "" {
			w.b = append(w.b, "node="...)
			w.b, lossy = appendStringBody(w.b, r.Node)
			w.b = append(w.b, ' ')
		}
		w.b = append(w.b, "type="...)
		w.b, _ = appendStringBody(w.b, auditevent.TypeName(r.Type))
		w.b = append(w.b, " msg="...)
		w.b, l = appendStringBody(w.b, unsafeString(r.Text))
		w.b = append(w.b, '"')
		if lossy || l {
			w.lossy = append(w.lossy, note{name: w.dotted("records", i), raw: r.Line()})
		}
	}
	w.b = append(w.b, ']')
}

func (e *Encoder) appendWarnings(w *writer, ev *auditevent.Event) {
	var evw []string
	if ev != nil {
		evw = ev.Warnings
	}
	if len(evw)+e.nwarn == 0 {
		return
	}
	w.field("warnings")
	w.b = append(w.b, '[')
	n := 0
	for _, s := range evw {
		if n == MaxArrayLen {
			break
		}
		if n > 0 {
			w.b = append(w.b, ',')
		}
		w.value("warnings", n, s, MaxStringBytes)
		n++
	}
	for _, s := range e.warns[:e.nwarn] {
		if n > 0 {
			w.b = append(w.b, ',')
		}
		w.b, _ = appendString(w.b, s)
		n++
	}
	w.b = append(w.b, ']')
}

// appendNotes writes auditd.truncated_fields, auditd.lossy_fields and
// auditd.lossy_hex. It must come last: every other field has been noted.
func appendNotes(w *writer) {
	if len(w.truncated) > 0 {
		w.field("truncated_fields")
		w.b = append(w.b, '[')
		for i, name := range w.truncated {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b, _ = appendString(w.b, name)
		}
		w.b = append(w.b, ']')
	}
	if len(w.lossy) == 0 {
		return
	}
	w.field("lossy_fields")
	w.b = append(w.b, '[')
	for i := range w.lossy {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b, _ = appendString(w.b, w.lossy[i].name)
	}
	w.b = append(w.b, ']')
	w.field("lossy_hex")
	w.b = append(w.b, '{')
	for i := range w.lossy {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b, _ = appendString(w.b, w.lossy[i].name)
		w.b = append(w.b, ':', '"')
		w.b = appendHex(w.b, w.lossy[i].raw)
		w.b = append(w.b, '"')
	}
	w.b = append(w.b, '}')
}

// unsafeString views b as a string without copying. Only for record text,
// which a Record never modifies, and only for the duration of one call.
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
