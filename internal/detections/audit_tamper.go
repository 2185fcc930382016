package detections

import (
	"os"
	"strconv"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// AuditTamperID is the stable id of the audit system tampering detection.
const AuditTamperID = "audit-system-tamper"

// T1562012 is "Impair Defenses: Disable or Modify Linux Audit System".
var T1562012 = Threat{
	TacticID: "TA0005", TacticName: "Defense Evasion",
	TechniqueID: "T1562", TechniqueName: "Impair Defenses",
	SubtechniqueID: "T1562.012", SubName: "Disable or Modify Linux Audit System",
}

// ourKeyPrefix starts the key of every rule auditlkm ships
// (auditrules.KeyPrefix; not imported: rules depends on auditevent only).
const ourKeyPrefix = "auditlkm-"

// auditTamper reads the kernel's CONFIG_CHANGE records: a rule removed,
// auditing disabled, the audit pid changing hands, or the backlog, its
// wait time or the rate limit changed. The kernel writes these records in
// the context of the process that sent the request, so the event's
// SYSCALL record names it (the audit_pid record carries pid= itself).
// Changes made by the auditlkm process evaluating the rule (loading and
// unloading its own rules, claiming and releasing the pid) are returned
// suppressed, with reason "auditlkm-self"; so is a change that lost its
// SYSCALL record to shutdown ("unattributed-at-shutdown").
type auditTamper struct {
	def  Definition
	self int
}

func newAuditTamper() *auditTamper { return newAuditTamperFor(os.Getpid()) }

func newAuditTamperFor(self int) *auditTamper {
	return &auditTamper{self: self, def: Definition{
		ID:   AuditTamperID,
		Name: "Linux Audit System Disabled or Modified",
		Description: "The kernel audit configuration changed: an audit rule was removed, auditing was " +
			"disabled, the audit pid changed hands, or the backlog limit, backlog wait time or rate limit " +
			"was changed. Removing auditlkm's own rules blinds the kernel-module detections.",
		Severity: High, RiskScore: 73, Threat: T1562012,
		Needs: []auparse.AuditMessageType{auparse.AUDIT_CONFIG_CHANGE, auparse.AUDIT_SYSCALL},
	}}
}

func (r *auditTamper) Definition() *Definition { return &r.def }

// change is one decoded CONFIG_CHANGE record.
type change struct {
	op, key   string
	setting   string // audit_enabled, audit_pid, audit_backlog_limit, ...
	newV, old int64
	res       bool
	pid       int // pid= of the body (audit_pid records only)
	hasNewOld bool
}

func parseChange(body []byte) change {
	var c change
	rest := body
	for n := 0; n < auditevent.MaxFields; n++ {
		f, next, ok := auditevent.NextField(rest)
		if !ok {
			break
		}
		rest = next
		k, v := string(f.Key), f.Value
		switch k {
		case "op":
			c.op = string(v)
		case "key":
			if s, ok, _ := auditevent.Untrusted(f); ok {
				c.key = s
			}
		case "res":
			c.res = string(v) == "1" || string(v) == "success"
		case "pid":
			c.pid, _ = strconv.Atoi(string(v))
		case "old":
			c.old, _ = strconv.ParseInt(string(v), 10, 64)
			c.hasNewOld = c.setting != ""
		case "audit_enabled", "audit_pid", "audit_backlog_limit", "audit_backlog_wait_time",
			"audit_rate_limit", "audit_failure":
			if c.setting == "" {
				c.setting = k
				c.newV, _ = strconv.ParseInt(string(v), 10, 64)
			}
		}
	}
	return c
}

func (r *auditTamper) Evaluate(dst []Alert, in *Input) []Alert {
	ev := in.Event
	for i := range ev.Records {
		if ev.Records[i].Type != auparse.AUDIT_CONFIG_CHANGE {
			continue
		}
		c := parseChange(ev.Records[i].Body())
		reason, action, sev, ok := r.judge(c)
		if !ok {
			continue
		}
		proc, parent := in.Actor()
		if proc.PID == 0 && c.pid != 0 {
			proc.PID = c.pid
		}
		a := newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = []string{"configuration"}, []string{"change"}, action
		a.Severity = sev
		a.RiskScore = riskFor(sev)
		who := orUnknown(proc.Exe)
		if proc.PID != 0 {
			who += " (pid " + strconv.Itoa(proc.PID) + ")"
		}
		if !c.res {
			reason = "tried (refused by the kernel): " + reason
			a.Severity, a.RiskScore = Low, riskFor(Low)
		}
		a.Reason = who + " " + reason
		switch {
		case r.self != 0 && proc.PID == r.self:
			a.Suppressed = "auditlkm-self"
		case proc.PID == 0 && ev.Completion == auditevent.CompleteFlushed:
			// Cut off by shutdown before its SYSCALL record: the last
			// rules auditlkm itself removes on the way out look like
			// this, and nothing says who sent it.
			a.Suppressed = "unattributed-at-shutdown"
		}
		dst = append(dst, a)
	}
	return dst
}

// judge decides whether a change is tampering and how bad it is.
func (r *auditTamper) judge(c change) (reason, action string, sev Severity, ok bool) {
	switch c.op {
	case "remove_rule":
		if strings.HasPrefix(c.key, ourKeyPrefix) {
			return "removed auditlkm audit rule " + strconv.Quote(c.key), "audit-rule-removed", High, true
		}
		k := "without a key"
		if c.key != "" {
			k = strconv.Quote(c.key)
		}
		return "removed an audit rule " + k, "audit-rule-removed", Medium, true
	}
	if c.setting == "" {
		return "", "", 0, false
	}
	n, o := strconv.FormatInt(c.newV, 10), strconv.FormatInt(c.old, 10)
	switch c.setting {
	case "audit_enabled":
		if c.newV == 0 && (c.old != 0 || !c.hasNewOld) {
			return "disabled kernel auditing (audit_enabled=0 old=" + o + ")", "audit-disabled", Critical, true
		}
	case "audit_pid":
		switch {
		case c.old != 0 && c.newV != 0 && c.newV != c.old:
			return "took over the audit pid from pid " + o + " (now " + n + ")", "audit-pid-changed", High, true
		case c.old != 0 && c.newV == 0:
			return "released the audit pid held by pid " + o, "audit-pid-changed", Medium, true
		case c.old == 0 && c.newV != 0:
			return "claimed the audit pid (now " + n + ")", "audit-pid-changed", Low, true
		}
	case "audit_backlog_limit", "audit_backlog_wait_time":
		if c.newV != c.old {
			return "changed " + c.setting + " from " + o + " to " + n, "audit-backlog-changed", Medium, true
		}
	case "audit_rate_limit":
		if c.newV != c.old && c.newV != 0 {
			return "set audit_rate_limit to " + n + " messages/s (was " + o + ")", "audit-rate-limited", Medium, true
		}
	case "audit_failure":
		if c.newV == 0 && c.old != 0 {
			return "silenced audit failures (audit_failure=0 old=" + o + ")", "audit-failure-silenced", Medium, true
		}
	}
	return "", "", 0, false
}

func riskFor(s Severity) int {
	switch s {
	case Critical:
		return 99
	case High:
		return 73
	case Medium:
		return 47
	}
	return 21
}
