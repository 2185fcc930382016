package detections

import (
	"strings"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
)

// Evaluator runs a catalog over a stream of events, one event at a time,
// with less work per event than calling each rule's Evaluate: the
// detections of the module load path share the resolution of the acting
// process, append their alerts to one reused buffer and reuse reason
// sentences that come out the same as for the previous event. The alerts
// are exactly those the rules' Evaluate methods return, in catalog order.
// The zero value is ready to use. An Evaluator must be used from one
// goroutine.
type Evaluator struct {
	buf  []Alert
	ctx  evalCtx
	memo evalMemo
	// prep holds, per rule of catalog, the rule and whether it is an
	// appender, so the type is not asserted per event.
	catalog []Detection
	prep    []prepared
}

type prepared struct {
	r Detection
	a appender // nil when r is not one
}

// maxKeptAlerts bounds the alert buffer an Evaluator keeps between events.
const maxKeptAlerts = 64

// Evaluate returns the alerts of every rule of catalog for ev, in catalog
// order. The slice and the alerts in it are valid until the next call;
// the caller copies an alert it keeps (an Alert copy is self-contained:
// what it points to is not reused).
//
// catalog must not be modified while an Evaluator evaluates it (what
// each rule is, is remembered per catalog): pass a new slice to change
// the catalog, as Processor.SetRules does.
func (x *Evaluator) Evaluate(catalog []Detection, ev *auditevent.Event, st State) []Alert {
	last := len(x.buf)
	if cap(x.buf) > maxKeptAlerts {
		x.buf, last = nil, 0
	}
	x.buf = x.buf[:0]
	x.ctx.reset(ev, st, &x.memo)
	if !sameCatalog(x.catalog, catalog) {
		x.prepare(catalog)
	}
	for i := range x.prep {
		pr := &x.prep[i]
		if pr.a != nil {
			x.buf = pr.a.appendAlerts(x.buf, &x.ctx)
			continue
		}
		if as := pr.r.Evaluate(ev, st); len(as) > 0 {
			x.buf = append(x.buf, as...)
		}
	}
	if len(x.buf) < last {
		// Forget the alerts of the previous event this one did not
		// overwrite (they keep their events alive).
		clear(x.buf[len(x.buf):last])
	}
	return x.buf
}

// sameCatalog reports whether a and b are the same slice.
func sameCatalog(a, b []Detection) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// prepare remembers, per rule of catalog, whether it is an appender.
func (x *Evaluator) prepare(catalog []Detection) {
	x.catalog = catalog
	x.prep = x.prep[:0]
	for _, r := range catalog {
		a, _ := r.(appender)
		x.prep = append(x.prep, prepared{r: r, a: a})
	}
}

// appender is a rule that appends its alerts to dst and shares the
// per-event work of c. Its Evaluate is appendAlerts with a fresh context.
type appender interface {
	appendAlerts(dst []Alert, c *evalCtx) []Alert
}

// evalCtx is the evaluation of one event by a catalog.
type evalCtx struct {
	ev *auditevent.Event
	st State

	resolved bool // proc and parent hold the actor
	proc     auditevent.Process
	parent   *auditevent.Process

	koDone bool   // ko holds the actor's module file argument
	ko     string // koArgument of the actor

	loadDone bool // load and hasLoad hold moduleLoadOf
	load     correlate.ModuleLoad
	hasLoad  bool

	memo *evalMemo // nil: nothing is remembered across events
}

// reset starts the evaluation of ev. What the previous event resolved
// stays in place, unused, until it is overwritten.
func (c *evalCtx) reset(ev *auditevent.Event, st State, m *evalMemo) {
	c.ev, c.st, c.memo = ev, st, m
	c.resolved, c.koDone, c.loadDone = false, false, false
}

// newEvalCtx is the context of one rule's Evaluate.
func newEvalCtx(ev *auditevent.Event, st State) *evalCtx { return &evalCtx{ev: ev, st: st} }

// actor is actor(ev, st), resolved once per event. Alerts share the
// parent it returns; nothing modifies an alert's parent.
func (c *evalCtx) actor() (auditevent.Process, *auditevent.Process) {
	if !c.resolved {
		c.proc, c.parent = actorMemo(c.ev, c.st, c.memo)
		c.resolved = true
	}
	return c.proc, c.parent
}

// koArgument is koArgument of the actor's arguments and working
// directory, once per event.
func (c *evalCtx) koArgument() string {
	if !c.koDone {
		p, _ := c.actor()
		c.ko, c.koDone = koArgument(&p), true
	}
	return c.ko
}

// moduleLoad is moduleLoadOf(ev, st), once per event. The ModuleLoad is
// shared: callers must not modify it.
func (c *evalCtx) moduleLoad() (*correlate.ModuleLoad, bool) {
	if !c.loadDone {
		c.load, c.hasLoad = moduleLoadOf(c.ev, c.st)
		c.loadDone = true
	}
	return &c.load, c.hasLoad
}

// evalMemo is what an Evaluator remembers from one event to the next:
// the last actor's parent, and the last reason sentence of each hot
// detection with the parts it was joined from.
type evalMemo struct {
	parent         *auditevent.Process // the last actor's parent (see actorMemo)
	loadReason     joinMemo
	locationReason joinMemo
	exit           int64
	exitText       string
}

// itoa is itoa(n), remembering the last value (a loop of refused loads
// repeats its exit code).
func (m *evalMemo) itoa(n int64) string {
	if m == nil {
		return itoa(n)
	}
	if m.exitText == "" || m.exit != n {
		m.exit, m.exitText = n, itoa(n)
	}
	return m.exitText
}

// maxJoinParts bounds the parts a joinMemo remembers; longer joins are
// built every time.
const maxJoinParts = 12

// joinMemo builds a string from parts, returning the previous result when
// the parts are the same as last time. A nil *joinMemo always builds.
type joinMemo struct {
	parts [maxJoinParts]string
	n     int
	s     string
}

func (m *joinMemo) join(parts ...string) string {
	if m != nil && m.n == len(parts) {
		same := true
		for i, p := range parts {
			if p != m.parts[i] {
				same = false
				break
			}
		}
		if same {
			return m.s
		}
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range parts {
		b.WriteString(p)
	}
	s := b.String()
	if m != nil && len(parts) <= maxJoinParts {
		m.n = copy(m.parts[:], parts)
		m.s = s
	}
	return s
}

// Alert categories and types shared by the alerts of the hot detections.
// Nothing modifies an alert's Category or Type slices.
var (
	categoryDriver        = []string{"driver"}
	categoryProcessDriver = []string{"process", "driver"}
	typeStart             = []string{"start"}
)
