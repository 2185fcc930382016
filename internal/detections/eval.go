package detections

import (
	"strings"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
)

// Input is one audit event as the detections evaluate it: the event,
// the facts the correlation store learned about it when it observed it
// (correlate.Store.Observe), and the long-lived correlation state to
// query (process table, ancestry). Work the detections of one event
// share (the acting process's resolution, its module file argument) is
// done at most once per Input, on first use.
type Input struct {
	Event *auditevent.Event
	Facts correlate.Facts
	State State // nil: no correlation state

	resolved bool // proc and parent hold the actor
	proc     auditevent.Process
	parent   *auditevent.Process

	koDone bool   // ko holds the actor's module file argument
	ko     string // koArgument of the actor

	memo *evalMemo // nil: nothing is remembered across events (outside an Evaluator)
}

// NewInput is the Input of one event evaluated on its own, outside an
// Evaluator. st may be nil.
func NewInput(ev *auditevent.Event, f correlate.Facts, st State) *Input {
	return &Input{Event: ev, Facts: f, State: st}
}

// EvaluateOne returns the alerts of detection r for one event, outside an
// Evaluator.
func EvaluateOne(r Detection, ev *auditevent.Event, f correlate.Facts, st State) []Alert {
	return r.Evaluate(nil, NewInput(ev, f, st))
}

// reset starts the evaluation of ev. What the previous event resolved
// stays in place, unused, until it is overwritten.
func (in *Input) reset(ev *auditevent.Event, f correlate.Facts, st State, m *evalMemo) {
	in.Event, in.Facts, in.State, in.memo = ev, f, st, m
	in.resolved, in.koDone = false, false
}

// Actor returns the process that made the event, completed from the
// process table, and its parent (nil when unknown), resolved once per
// Input. Alerts share the parent it returns; nothing modifies an alert's
// parent.
func (in *Input) Actor() (auditevent.Process, *auditevent.Process) {
	if !in.resolved {
		in.proc, in.parent = actorMemo(in.Event, in.State, in.memo)
		in.resolved = true
	}
	return in.proc, in.parent
}

// koArgument is koArgument of the actor's arguments and working
// directory, once per event.
func (in *Input) koArgument() string {
	if !in.koDone {
		p, _ := in.Actor()
		in.ko, in.koDone = koArgument(&p), true
	}
	return in.ko
}

// Evaluator runs a catalog over a stream of events, one event at a time.
// It owns what the detections share: one Input per event (the acting
// process resolved once for every detection), one alert buffer the
// detections append to, and what is remembered from one event to the
// next (the last actor's parent, reason sentences that come out the same
// as for the previous event). The alerts are exactly those of calling
// each detection on its own (EvaluateOne), in catalog order. The zero
// value is ready to use. An Evaluator must be used from one goroutine.
type Evaluator struct {
	buf  []Alert
	in   Input
	memo evalMemo
}

// maxKeptAlerts bounds the alert buffer an Evaluator keeps between events.
const maxKeptAlerts = 64

// Evaluate returns the alerts of every detection of catalog for ev, whose
// facts are f, in catalog order. The slice and the alerts in it are valid
// until the next call; the caller copies an alert it keeps (an Alert copy
// is self-contained: what it points to is not reused).
func (x *Evaluator) Evaluate(catalog []Detection, ev *auditevent.Event, f correlate.Facts, st State) []Alert {
	last := len(x.buf)
	if cap(x.buf) > maxKeptAlerts {
		x.buf, last = nil, 0
	}
	x.buf = x.buf[:0]
	x.in.reset(ev, f, st, &x.memo)
	for _, r := range catalog {
		x.buf = r.Evaluate(x.buf, &x.in)
	}
	if len(x.buf) < last {
		// Forget the alerts of the previous event this one did not
		// overwrite (they keep their events alive).
		clear(x.buf[len(x.buf):last])
	}
	return x.buf
}

// Last returns the Input of the event last evaluated: its facts, and its
// acting process as the detections resolved it (once per event). Valid
// until the next Evaluate.
func (x *Evaluator) Last() *Input { return &x.in }

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
	categoryFile          = []string{"file"}
	typeCreation          = []string{"creation"}
	typeChange            = []string{"change"}
)
