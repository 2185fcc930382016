package correlate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/auditlkm/auditlkm/internal/statefile"
)

// StateFileName is the state file's name in Config.StateDir.
const StateFileName = "correlate.state"

// Bounds of the state file.
const (
	stateFormat  = "auditlkm-correlate-state"
	stateVersion = 1
	// MaxStateFileBytes bounds the state file Load reads.
	MaxStateFileBytes = 256 << 20
)

// ErrCorruptState is matched (errors.Is) by the error Load returns when
// the state file is corrupt, truncated or of an unknown version. The file
// has then been moved aside and the store starts empty.
var ErrCorruptState = errors.New("corrupt correlation state")

// CorruptStateError describes a state file that was set aside.
type CorruptStateError struct {
	Path    string // the state file
	MovedTo string // where it is now; "" if moving it failed too
	Err     error  // what was wrong
}

func (e *CorruptStateError) Error() string {
	if e.MovedTo == "" {
		return fmt.Sprintf("load state %s: %v (could not move it aside)", e.Path, e.Err)
	}
	return fmt.Sprintf("load state %s: %v (moved to %s)", e.Path, e.Err, e.MovedTo)
}

// Unwrap returns the cause.
func (e *CorruptStateError) Unwrap() error { return e.Err }

// Is matches ErrCorruptState.
func (e *CorruptStateError) Is(target error) bool { return target == ErrCorruptState }

// The file's lines.
type stateHeader struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	FirstStart int64  `json:"first_start_ms"`
	SavedAt    int64  `json:"saved_at_ms"`
}

type stateLine struct {
	T string `json:"t"` // "seen", "file" or "end"
	// seen
	Kind  string           `json:"kind,omitempty"`
	Value statefile.String `json:"value,omitempty"`
	First int64            `json:"first_ms,omitempty"`
	Last  int64            `json:"last_ms,omitempty"`
	Count uint64           `json:"count,omitempty"`
	// file
	Path      statefile.String   `json:"path,omitempty"`
	Dev       string             `json:"dev,omitempty"`
	Inode     uint64             `json:"inode,omitempty"`
	FileKind  uint8              `json:"file_kind,omitempty"`
	Proc      *statefile.Process `json:"process,omitempty"`
	Container string             `json:"container,omitempty"`
	At        int64              `json:"at_ms,omitempty"`
	Serial    uint32             `json:"serial,omitempty"`
	Syscall   string             `json:"syscall,omitempty"`
	Names     []statefile.String `json:"names,omitempty"` // module configuration: module names
	Files     []statefile.String `json:"files,omitempty"` // module configuration: module files
	// end
	Lines  int    `json:"lines,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Snapshot is a copy of the persistent part of a Store: the first-seen
// history, the file provenance table and the first start time.
type Snapshot struct {
	FirstStart time.Time
	SavedAt    time.Time
	seen       []stateLine
	files      []stateLine
}

// Snapshot copies the persistent state (O(entries)); call it from the
// owner goroutine. The copy may then be saved from any goroutine.
func (s *Store) Snapshot() *Snapshot {
	s.ReadConfigs()
	sn := &Snapshot{FirstStart: s.firstStart, SavedAt: s.now()}
	sn.seen = make([]stateLine, 0, len(s.seen.m))
	for el := s.seen.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*seenEntry)
		sn.seen = append(sn.seen, stateLine{
			T: "seen", Kind: seenKinds[e.key.kind], Value: statefile.String(e.key.value),
			First: e.s.First.UnixMilli(), Last: e.s.Last.UnixMilli(), Count: e.s.Count,
		})
	}
	sn.files = make([]stateLine, 0, s.files.n)
	for e := s.files.oldest; e != nil; e = e.next {
		w := &e.w
		sp := statefile.FromProcess(&w.Process)
		l := stateLine{
			T: "file", Path: statefile.String(w.Path), Dev: w.Dev, Inode: w.Inode, FileKind: uint8(w.Kind),
			Proc: &sp, Container: w.ContainerID, At: w.At.UnixMilli(), Serial: w.Serial, Syscall: w.Syscall,
		}
		for _, n := range w.Names {
			l.Names = append(l.Names, statefile.String(n))
		}
		for _, f := range w.Files {
			l.Files = append(l.Files, statefile.String(f))
		}
		sn.files = append(sn.files, l)
	}
	return sn
}

// WriteTo writes the snapshot in the state file format: a header line,
// one JSON line per entry, and a trailer with the line count and the
// SHA-256 of everything before it.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	enc := json.NewEncoder(cw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(stateHeader{Format: stateFormat, Version: stateVersion,
		FirstStart: sn.FirstStart.UnixMilli(), SavedAt: sn.SavedAt.UnixMilli()}); err != nil {
		return cw.n, err
	}
	for _, part := range [][]stateLine{sn.seen, sn.files} {
		for i := range part {
			if err := enc.Encode(&part[i]); err != nil {
				return cw.n, err
			}
		}
	}
	end := stateLine{T: "end", Lines: len(sn.seen) + len(sn.files), SHA256: hex.EncodeToString(h.Sum(nil))}
	b, err := json.Marshal(end)
	if err != nil {
		return cw.n, err
	}
	n, err := w.Write(append(b, '\n'))
	return cw.n + int64(n), err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// maxStateLine bounds one line of the state file.
const maxStateLine = 4 << 20

// decodeState parses a state file held in memory (for tests and fuzzing;
// Load streams). It returns a snapshot or an error, never both, and never
// panics.
func decodeState(data []byte) (*Snapshot, error) {
	var sn *Snapshot
	err := streamState(bytes.NewReader(data), func(hd stateHeader) {
		sn = &Snapshot{FirstStart: time.UnixMilli(hd.FirstStart), SavedAt: time.UnixMilli(hd.SavedAt)}
	}, func(l *stateLine) {
		if l.T == "seen" {
			sn.seen = append(sn.seen, *l)
		} else {
			sn.files = append(sn.files, *l)
		}
	})
	if err != nil {
		return nil, err
	}
	return sn, nil
}

// streamState reads a state file line by line: header is called with the
// checked header, entry with every checked entry, in order (the line is
// reused afterwards). It returns nil only when the trailer was read, its
// checksum and line count match and nothing follows it; on an error the
// entries already handed out must be discarded. Memory use is one line
// (at most maxStateLine), whatever the size of the file.
func streamState(r io.Reader, header func(stateHeader), entry func(*stateLine)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	h := sha256.New()
	var line []byte
	next := func() error {
		line = line[:0]
		for {
			chunk, err := br.ReadSlice('\n')
			line = append(line, chunk...)
			if len(line) > maxStateLine {
				return fmt.Errorf("a line longer than %d bytes", maxStateLine)
			}
			switch {
			case err == nil:
				return nil
			case errors.Is(err, bufio.ErrBufferFull):
				continue
			case errors.Is(err, io.EOF) && len(line) == 0:
				return errors.New("truncated: no trailer")
			case errors.Is(err, io.EOF):
				return errors.New("truncated: no final newline")
			default:
				return err
			}
		}
	}
	if err := next(); err != nil {
		return err
	}
	h.Write(line)
	var hd stateHeader
	if err := json.Unmarshal(line, &hd); err != nil {
		return fmt.Errorf("bad header: %w", err)
	}
	if hd.Format != stateFormat {
		return fmt.Errorf("bad header: format %q", hd.Format)
	}
	if hd.Version != stateVersion {
		return fmt.Errorf("unsupported version %d (want %d)", hd.Version, stateVersion)
	}
	if hd.FirstStart <= 0 {
		return errors.New("bad header: no first start")
	}
	header(hd)
	for lines := 0; ; lines++ {
		if err := next(); err != nil {
			return err
		}
		var l stateLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("line %d: %w", lines+2, err)
		}
		if l.T == "end" {
			if hex.EncodeToString(h.Sum(nil)) != l.SHA256 {
				return errors.New("checksum mismatch")
			}
			if lines != l.Lines {
				return fmt.Errorf("trailer counts %d lines, file has %d", l.Lines, lines)
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				return errors.New("data after the trailer")
			}
			return nil
		}
		h.Write(line)
		if err := l.check(); err != nil {
			return fmt.Errorf("line %d: %w", lines+2, err)
		}
		entry(&l)
	}
}

func (l *stateLine) check() error {
	switch l.T {
	case "seen":
		if seenKind(l.Kind) == 0 || l.Value == "" || len(l.Value) > maxSeenValue || l.Count == 0 ||
			l.First > l.Last {
			return fmt.Errorf("bad seen entry %q=%q", l.Kind, l.Value)
		}
	case "file":
		if (l.Path == "" && l.Inode == 0) || (l.FileKind != uint8(FileModule) && l.FileKind != uint8(FileModuleConfig)) ||
			l.Proc == nil || len(l.Proc.Args) > maxStoredArgs || len(l.Names) > MaxConfigNames || len(l.Files) > MaxConfigFiles {
			return fmt.Errorf("bad file entry %q", l.Path)
		}
	default:
		return fmt.Errorf("unknown entry type %q", l.T)
	}
	return nil
}

// restore replaces the tables' persistent content with sn.
func (s *Store) restore(sn *Snapshot) {
	s.restoreStart(sn.FirstStart)
	for i := range sn.seen {
		s.restoreLine(&sn.seen[i])
	}
	for i := range sn.files {
		s.restoreLine(&sn.files[i])
	}
	s.updateGauges()
}

// restoreStart empties the persistent tables for a restore.
func (s *Store) restoreStart(firstStart time.Time) {
	s.seen.init()
	s.files.init()
	s.firstStart = firstStart
}

// restoreLine adds one checked entry of a state file.
func (s *Store) restoreLine(l *stateLine) {
	if l.T == "seen" {
		s.markSeen(seenKey{seenKind(l.Kind), string(l.Value)},
			Seen{First: time.UnixMilli(l.First), Last: time.UnixMilli(l.Last), Count: l.Count}, eventRef{})
		return
	}
	w := FileWrite{Path: string(l.Path), Dev: l.Dev, Inode: l.Inode, Kind: FileKind(l.FileKind),
		ContainerID: l.Container, At: time.UnixMilli(l.At), Serial: l.Serial, Syscall: l.Syscall,
		Process: l.Proc.Process()}
	for _, n := range l.Names {
		w.Names = append(w.Names, string(n))
	}
	for _, f := range l.Files {
		w.Files = append(w.Files, string(f))
	}
	s.recordWrite(w, false)
}

func (s *Store) statePath() string { return filepath.Join(s.cfg.StateDir, StateFileName) }

// Load reads the persisted state, creating StateDir when missing. A
// missing file is a first start. A corrupt file is moved aside to
// "<name>.corrupt-<unix time>", counted, and reported as a
// *CorruptStateError (errors.Is ErrCorruptState); the store then starts
// empty, as on a first start. Other errors (an unreadable dir) are
// returned as they are, and the store is empty too. Load is a no-op when
// StateDir is empty.
func (s *Store) Load() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir %s: %w", s.cfg.StateDir, err)
	}
	p := s.statePath()
	// A regular file only (no link, FIFO or device), its size checked
	// before reading; decoded line by line into the tables, so memory is
	// the tables' own, not the file's.
	f, _, err := statefile.Open(p, MaxStateFileBytes)
	if errors.Is(err, os.ErrNotExist) {
		s.log.Info("no correlation state: first start", "path", p)
		return nil
	}
	if err != nil && !errors.Is(err, statefile.ErrNotRegular) && !errors.Is(err, statefile.ErrTooLarge) {
		s.m.loadErrors.Inc()
		return fmt.Errorf("load state %s: %w", p, err)
	}
	if err == nil {
		err = streamState(f, func(hd stateHeader) { s.restoreStart(time.UnixMilli(hd.FirstStart)) }, s.restoreLine)
		f.Close()
	}
	if err != nil {
		s.m.loadErrors.Inc()
		ce := &CorruptStateError{Path: p, Err: err}
		aside := p + ".corrupt-" + strconv.FormatInt(s.now().Unix(), 10)
		if rerr := os.Rename(p, aside); rerr == nil {
			ce.MovedTo = aside
		}
		s.reset()
		return ce
	}
	s.updateGauges()
	return nil
}

// Save writes the persistent state atomically (see SaveSnapshot). Call it
// from the owner goroutine.
func (s *Store) Save() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	return s.SaveSnapshot(s.Snapshot())
}

// SaveSnapshot writes sn to the state file atomically: a temporary file
// in StateDir, fsync, rename over the state file, fsync of the directory.
// It is safe to call from any goroutine, but not concurrently with itself
// or Load.
func (s *Store) SaveSnapshot(sn *Snapshot) error {
	if s.cfg.StateDir == "" {
		return nil
	}
	if err := s.writeState(sn); err != nil {
		s.m.saveErrors.Inc()
		return err
	}
	return nil
}

func (s *Store) writeState(sn *Snapshot) error {
	dir, p := s.cfg.StateDir, s.statePath()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir %s: %w", dir, err)
	}
	err := statefile.Replace(p, 0o600, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		if _, err := sn.WriteTo(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
