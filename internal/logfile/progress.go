package logfile

import (
	"errors"
	"sync/atomic"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Reason says why a line was skipped. It is the bounded label set of
// auditlkm_logfile_skipped_lines_total.
type Reason uint8

// Reasons for skipping a line.
const (
	// ReasonNoHeader: no "audit(SEC.MSEC:SERIAL):" header after msg=.
	ReasonNoHeader Reason = iota + 1
	// ReasonNoType: the line does not start with type= (or node=... type=).
	ReasonNoType
	// ReasonUnknownType: the type name is neither known nor UNKNOWN[N].
	ReasonUnknownType
	// ReasonTooLong: the line is longer than Config.MaxLineBytes.
	ReasonTooLong
	// ReasonOther: any other parse error.
	ReasonOther

	numReasons = int(ReasonOther)
)

// Reasons lists every Reason in label order.
func Reasons() []Reason {
	return []Reason{ReasonNoHeader, ReasonNoType, ReasonUnknownType, ReasonTooLong, ReasonOther}
}

// String returns the metrics label of r.
func (r Reason) String() string {
	switch r {
	case ReasonNoHeader:
		return "no_header"
	case ReasonNoType:
		return "no_type"
	case ReasonUnknownType:
		return "unknown_type"
	case ReasonTooLong:
		return "too_long"
	default:
		return "other"
	}
}

// ReasonOf classifies a parse error from auditevent.ParseLine (or from this
// package's line-length check).
func ReasonOf(err error) Reason {
	switch {
	case errors.Is(err, auditevent.ErrTooLong):
		return ReasonTooLong
	case errors.Is(err, auditevent.ErrNoType):
		return ReasonNoType
	case errors.Is(err, auditevent.ErrUnknownType):
		return ReasonUnknownType
	case errors.Is(err, auditevent.ErrNoHeader):
		return ReasonNoHeader
	default:
		return ReasonOther
	}
}

// Skipped counts skipped lines by Reason.
type Skipped struct {
	NoHeader, NoType, UnknownType, TooLong, Other uint64
}

// Get returns the count for one Reason.
func (s Skipped) Get(r Reason) uint64 {
	switch r {
	case ReasonNoHeader:
		return s.NoHeader
	case ReasonNoType:
		return s.NoType
	case ReasonUnknownType:
		return s.UnknownType
	case ReasonTooLong:
		return s.TooLong
	default:
		return s.Other
	}
}

// Total returns the number of skipped lines.
func (s Skipped) Total() uint64 {
	return s.NoHeader + s.NoType + s.UnknownType + s.TooLong + s.Other
}

// Progress is a snapshot of a Reader's counters. Lines = Records + Blank +
// Skipped.Total() once the Reader has returned io.EOF.
type Progress struct {
	// BytesRead counts bytes read from the inputs: compressed bytes for
	// gzip files. It may run ahead of Lines by one read buffer.
	BytesRead int64
	// BytesTotal is the sum of the sizes of the regular files, taken when
	// the Reader was opened; stdin and other special files count 0.
	BytesTotal int64
	// File is the 1-based index of the input being read (0 before the
	// first), Files the number of inputs and Path the name of input File.
	File, Files int
	Path        string
	// Damaged counts the inputs skipped because they could not be opened
	// or read to the end (Reader.Damaged).
	Damaged int
	// Lines counts every line, blank or not, including a final line
	// without a newline.
	Lines   uint64
	Records uint64
	Blank   uint64
	Skipped Skipped
}

// counts are the per-line counters. The Reader keeps a private copy on the
// hot path and adds it to the shared, atomic copy in batches.
type counts struct {
	lines, records, blank uint64
	skipped               [numReasons]uint64
}

// sharedCounts is the published side of counts.
type sharedCounts struct {
	bytesRead             atomic.Int64
	file                  atomic.Int64
	damaged               atomic.Int64
	lines, records, blank atomic.Uint64
	skipped               [numReasons]atomic.Uint64
}

func (s *sharedCounts) add(c *counts) {
	if c.lines != 0 {
		s.lines.Add(c.lines)
	}
	if c.records != 0 {
		s.records.Add(c.records)
	}
	if c.blank != 0 {
		s.blank.Add(c.blank)
	}
	for i, n := range c.skipped {
		if n != 0 {
			s.skipped[i].Add(n)
		}
	}
}
