package kmsg

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Bounds of one record.
const (
	// MaxRecordBytes is the read buffer: the kernel's records are at most
	// about 8 KiB (PRINTK_MESSAGE_MAX plus the dictionary).
	MaxRecordBytes = 16 << 10
	// MaxDictLines bounds the continuation lines kept per record.
	MaxDictLines = 16
)

// Line is one kernel log record (from /dev/kmsg), decoded.
type Line struct {
	Seq      uint64
	Facility uint8 // 0 = kernel; anything else was written by a user process
	Level    uint8 // 0 emerg .. 7 debug
	// Monotonic is the kernel's timestamp: time since boot.
	Monotonic time.Duration
	// Time is the wall-clock time of Monotonic, estimated by the Reader;
	// zero from Parse.
	Time    time.Time
	Message string   // unescaped
	Dict    []string // continuation lines, "KEY=value"
}

// FacilityKernel is the facility of messages the kernel itself wrote;
// /dev/kmsg forces LOG_USER onto lines user space writes, so a line with
// facility 0 cannot be forged from user space.
const FacilityKernel = 0

// ErrMalformed is matched (errors.Is) by every Parse error.
var ErrMalformed = errors.New("malformed kmsg record")

// Parse decodes one /dev/kmsg record. Wall-clock time is left zero: the
// Reader fills it in.
func Parse(b []byte) (Line, error) {
	var l Line
	if len(b) > MaxRecordBytes {
		return l, fmt.Errorf("parse kmsg record: %d bytes: %w", len(b), ErrMalformed)
	}
	semi := bytes.IndexByte(b, ';')
	if semi < 0 {
		return l, fmt.Errorf("parse kmsg record: no ';' after the prefix: %w", ErrMalformed)
	}
	head := b[:semi]
	var fields [4][]byte
	for i := 0; i < 4; i++ {
		c := bytes.IndexByte(head, ',')
		if c < 0 {
			if i < 3 {
				return l, fmt.Errorf("parse kmsg record: %d prefix fields, want 4: %w", i+1, ErrMalformed)
			}
			c = len(head)
		}
		fields[i] = head[:c]
		if c < len(head) {
			head = head[c+1:]
		} else {
			head = nil
		}
	}
	pri, err := strconv.ParseUint(string(fields[0]), 10, 32)
	if err != nil || pri>>3 > math.MaxUint8 {
		return l, fmt.Errorf("parse kmsg record: priority %q: %w", fields[0], ErrMalformed)
	}
	l.Facility, l.Level = uint8(pri>>3), uint8(pri&7)
	if l.Seq, err = strconv.ParseUint(string(fields[1]), 10, 64); err != nil {
		return l, fmt.Errorf("parse kmsg record: sequence %q: %w", fields[1], ErrMalformed)
	}
	usec, err := strconv.ParseUint(string(fields[2]), 10, 64)
	if err != nil || usec > math.MaxInt64/uint64(time.Microsecond) {
		return l, fmt.Errorf("parse kmsg record: timestamp %q: %w", fields[2], ErrMalformed)
	}
	l.Monotonic = time.Duration(usec) * time.Microsecond
	rest := b[semi+1:]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 {
		nl = len(rest)
	}
	l.Message = unescape(rest[:nl])
	for rest = rest[min(nl+1, len(rest)):]; len(rest) > 0; {
		nl = bytes.IndexByte(rest, '\n')
		if nl < 0 {
			nl = len(rest)
		}
		line := rest[:nl]
		rest = rest[min(nl+1, len(rest)):]
		if len(line) == 0 || line[0] != ' ' {
			continue // not a continuation line: ignore rather than guess
		}
		if len(l.Dict) < MaxDictLines {
			l.Dict = append(l.Dict, unescape(line[1:]))
		}
	}
	return l, nil
}

// unescape decodes the kernel's \xNN escapes; anything else is kept as is.
func unescape(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' && isHex(b[i+2]) && isHex(b[i+3]) {
			out = append(out, unhex(b[i+2])<<4|unhex(b[i+3]))
			i += 3
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
