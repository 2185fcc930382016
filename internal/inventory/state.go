package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/statefile"
)

// StateFileName is the inventory's file in the state directory.
const StateFileName = "inventory.json"

// MaxStateFileBytes bounds the state file read.
const MaxStateFileBytes = 16 << 20

const stateFormat = "auditlkm-inventory"
const stateVersion = 1

type stateFile struct {
	Format     string        `json:"format"`
	Version    int           `json:"version"`
	SavedAt    time.Time     `json:"saved_at"`
	BootID     string        `json:"boot_id,omitempty"`
	TaintKnown bool          `json:"taint_known"`
	Tainted    uint64        `json:"tainted"`
	Unaudited  uint64        `json:"unaudited_unloads,omitempty"`
	Modules    []stateModule `json:"modules"`
}

type stateModule struct {
	Name            statefile.String `json:"name"`
	Baseline        bool             `json:"baseline,omitempty"`
	AtStart         bool             `json:"at_start,omitempty"`
	FirstSeen       time.Time        `json:"first_seen,omitzero"`
	LastSeen        time.Time        `json:"last_seen,omitzero"`
	Present         bool             `json:"present"`
	Hidden          string           `json:"hidden,omitempty"`
	Unknown         bool             `json:"unknown,omitempty"`
	ReportedHidden  bool             `json:"reported_hidden,omitempty"`
	ReportedUnknown bool             `json:"reported_unknown,omitempty"`
	View            stateView        `json:"view"`
	Load            *stateLoad       `json:"load,omitempty"`
}

type stateView struct {
	InProc    bool               `json:"in_proc_modules"`
	InSysfs   bool               `json:"in_sysfs"`
	State     string             `json:"state,omitempty"`
	InitState string             `json:"initstate,omitempty"`
	Size      uint64             `json:"size,omitempty"`
	Refcount  int                `json:"refcount"`
	UsedBy    []statefile.String `json:"used_by,omitempty"`
	Holders   []statefile.String `json:"holders,omitempty"`
	Sections  int                `json:"sections,omitempty"`
	Taint     string             `json:"taint,omitempty"`
	Address   string             `json:"address,omitempty"`
	SrcVer    string             `json:"srcversion,omitempty"`
	Version   string             `json:"version,omitempty"`
}

type stateLoad struct {
	Serial    uint32              `json:"serial"`
	At        time.Time           `json:"at"`
	Syscall   string              `json:"syscall"`
	File      statefile.String    `json:"file,omitempty"`
	SHA256    string              `json:"sha256,omitempty"`
	Taints    string              `json:"taints,omitempty"`
	Process   statefile.Process   `json:"process"`
	Parent    *statefile.Process  `json:"parent,omitempty"`
	Ancestors []statefile.Process `json:"ancestors,omitempty"`
}

// encodeState renders the tracker as the state file.
func (t *Tracker) encodeState(now time.Time) ([]byte, error) {
	sf := stateFile{Format: stateFormat, Version: stateVersion, SavedAt: now.UTC(), BootID: t.bootID,
		TaintKnown: t.taintKnown, Tainted: t.taint, Unaudited: t.unaudited, Modules: []stateModule{}}
	for _, n := range sortedEntryNames(t.entries) {
		e := t.entries[n]
		v := &e.View
		sm := stateModule{Name: statefile.String(n), Baseline: e.Baseline, AtStart: e.AtStart, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen,
			Present: e.Present, Hidden: e.Hidden, Unknown: e.Unknown, ReportedHidden: e.ReportedHidden, ReportedUnknown: e.ReportedUnknown,
			View: stateView{InProc: v.InProcModules, InSysfs: v.InSysfs, State: v.State, InitState: v.InitState, Size: v.Size,
				Refcount: v.Refcount, UsedBy: statefile.Strings(v.UsedBy), Holders: statefile.Strings(v.Holders), Sections: v.Sections, Taint: v.Taint, Address: v.Address,
				SrcVer: v.SrcVersion, Version: v.Version}}
		if l := e.Load; l != nil {
			sl := &stateLoad{Serial: l.Serial, At: l.At.UTC(), Syscall: l.Syscall, File: statefile.String(l.File), SHA256: l.SHA256,
				Taints: l.Taints, Process: statefile.FromProcess(&l.Process)}
			if l.Parent != nil {
				pp := statefile.FromProcess(l.Parent)
				sl.Parent = &pp
			}
			for i := range l.Ancestors {
				sl.Ancestors = append(sl.Ancestors, statefile.FromProcess(&l.Ancestors[i]))
			}
			sm.Load = sl
		}
		sf.Modules = append(sf.Modules, sm)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(&sf); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeState parses a state file.
func decodeState(data []byte) (*stateFile, error) {
	var sf stateFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil {
		return nil, err
	}
	if sf.Format != stateFormat {
		return nil, fmt.Errorf("format %q, want %q", sf.Format, stateFormat)
	}
	if sf.Version != stateVersion {
		return nil, fmt.Errorf("version %d, want %d", sf.Version, stateVersion)
	}
	if len(sf.Modules) > maxEntries {
		return nil, fmt.Errorf("%d modules, more than %d", len(sf.Modules), maxEntries)
	}
	return &sf, nil
}

// restore fills an empty tracker from the previous run's state. On the
// same boot the entries come back whole (loads, reports, taint mask); on
// another boot only the names of the modules that were present remain,
// to tell which modules are new at this start.
func (t *Tracker) restore(sf *stateFile, bootID string) {
	t.prev = map[string]bool{}
	sameBoot := sf.BootID != "" && sf.BootID == bootID
	for i := range sf.Modules {
		sm := &sf.Modules[i]
		n := string(sm.Name)
		if n == "" {
			continue
		}
		if sm.Present {
			t.prev[n] = true
		}
		if !sameBoot {
			continue
		}
		v := &sm.View
		e := &Entry{Name: n, Baseline: sm.Baseline, AtStart: sm.AtStart, FirstSeen: sm.FirstSeen, LastSeen: sm.LastSeen,
			Present: sm.Present, Hidden: sm.Hidden, Unknown: sm.Unknown, ReportedHidden: sm.ReportedHidden,
			ReportedUnknown: sm.ReportedUnknown,
			View: detections.KernelModuleView{Name: n, InProcModules: v.InProc, InSysfs: v.InSysfs, State: v.State, InitState: v.InitState,
				Size: v.Size, Refcount: v.Refcount, UsedBy: statefile.Plain(v.UsedBy), Holders: statefile.Plain(v.Holders), Sections: v.Sections,
				Taint: v.Taint, Address: v.Address, SrcVersion: v.SrcVer, Version: v.Version}}
		if sl := sm.Load; sl != nil {
			l := &detections.ModuleLoadRecord{Serial: sl.Serial, At: sl.At, Syscall: sl.Syscall, Module: n, File: string(sl.File),
				SHA256: sl.SHA256, Taints: sl.Taints, Process: sl.Process.Process()}
			if sl.Parent != nil {
				pp := sl.Parent.Process()
				l.Parent = &pp
			}
			for i := range sl.Ancestors {
				l.Ancestors = append(l.Ancestors, sl.Ancestors[i].Process())
			}
			e.Load = l
			e.hashTried = l.SHA256 != ""
		}
		t.entries[n] = e
	}
	if sameBoot {
		t.bootID, t.taintKnown, t.taint, t.unaudited = sf.BootID, sf.TaintKnown, sf.Tainted, sf.Unaudited
	}
}

// ReadState reads the state file in dir: regular files only, never
// through a symbolic link, at most MaxStateFileBytes. A missing file is
// (nil, nil).
func ReadState(dir string) (*stateFile, error) {
	p := filepath.Join(dir, StateFileName)
	b, err := ReadBounded(p, MaxStateFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inventory state %s: %w", p, err)
	}
	sf, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("inventory state %s: %w", p, err)
	}
	return sf, nil
}

// writeState writes data to dir/StateFileName atomically (a temporary
// file created exclusively, synced and renamed over it: internal/statefile),
// refusing to replace anything but a regular file.
func writeState(dir string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("inventory state dir %s: %w", dir, err)
	}
	p := filepath.Join(dir, StateFileName)
	if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("inventory state %s: %w", p, statefile.ErrNotRegular)
	}
	if err := statefile.Replace(p, 0o600, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("inventory state: %w", err)
	}
	return nil
}

// StateEntries returns the inventory saved in dir, for a reader other than
// the daemon (auditlkm inventory); found is false when there is none.
// Entries of another boot than bootID ("" accepts any) carry only their
// names.
func StateEntries(dir, bootID string) (entries []Entry, found bool, err error) {
	sf, err := ReadState(dir)
	if err != nil || sf == nil {
		return nil, false, err
	}
	if bootID == "" {
		bootID = sf.BootID
	}
	t := NewTracker(0, 0)
	t.restore(sf, bootID)
	if len(t.entries) == 0 {
		for n := range t.prev {
			t.entries[n] = &Entry{Name: n}
		}
	}
	return t.Entries(), true, nil
}
