package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/auditlkm/auditlkm/internal/detections"
)

// Bounds on a configuration file.
const (
	// MaxFileBytes bounds the size of a configuration file.
	MaxFileBytes = 1 << 20
	// maxDepth bounds the nesting of mappings and sequences.
	maxDepth = 16
	// maxErrors bounds the errors reported for one file; the rest are
	// summarised in one line.
	maxErrors = 20
	// MaxWatches bounds the extra watches of one file.
	MaxWatches = 1024
)

// Section names that are not flags.
const (
	SectionDetections = "detections"
	SectionWatches    = "watches"
)

// Sentinel errors, wrapped by *Error.
var (
	// ErrSyntax: the file is not YAML, or not one YAML mapping.
	ErrSyntax = errors.New("syntax error")
	// ErrUnknownKey: a key names no flag and no section.
	ErrUnknownKey = errors.New("unknown key")
	// ErrBadValue: a value has the wrong shape or is refused.
	ErrBadValue = errors.New("bad value")
)

// Error locates one problem in a configuration file.
type Error struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	Key    string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Setting is one key of the file that mirrors a flag.
type Setting struct {
	Key    string   // dotted YAML path, "audit.backlog_limit"
	Flag   string   // the flag it sets, "audit.backlog-limit"
	Values []string // one scalar, or the elements of a sequence
	List   bool     // the value was a YAML sequence
	Line   int
	Column int
}

// Watch is an extra file watch loaded into the kernel with the embedded
// audit rules.
type Watch struct {
	// Path is absolute, without whitespace or control characters (the
	// auditctl syntax cannot carry them).
	Path string `yaml:"path"`
	// Permissions is a subset of "rwxa"; empty means "wa".
	Permissions string `yaml:"permissions"`
	// Key is the audit key; empty means DefaultWatchKey.
	Key string `yaml:"key"`
}

// DefaultWatchKey is the audit key of a watch that names none.
const DefaultWatchKey = "auditlkm-watch"

// maxKeyBytes is the kernel's limit on an audit key (AUDIT_MAX_KEY_LEN).
const maxKeyBytes = 256

var watchKeyRE = regexp.MustCompile(`^[A-Za-z0-9_.:/=+-]+$`)

// Validate checks w.
func (w Watch) Validate() error {
	switch {
	case !strings.HasPrefix(w.Path, "/"):
		return fmt.Errorf("watch path %q: must be absolute", w.Path)
	case len(w.Path) > 4095:
		return fmt.Errorf("watch path: longer than 4095 bytes")
	case strings.IndexFunc(w.Path, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\uFFFD' }) >= 0:
		return fmt.Errorf("watch path %q: whitespace, control characters and invalid UTF-8 are not allowed", w.Path)
	}
	for _, c := range w.Permissions {
		if !strings.ContainsRune("rwxa", c) || strings.Count(w.Permissions, string(c)) > 1 {
			return fmt.Errorf("watch permissions %q: want a subset of rwxa", w.Permissions)
		}
	}
	if w.Key != "" && (len(w.Key) > maxKeyBytes || !watchKeyRE.MatchString(w.Key)) {
		return fmt.Errorf("watch key %q: want up to %d of A-Z a-z 0-9 _ . : / = + -", w.Key, maxKeyBytes)
	}
	return nil
}

// Rule returns w as an auditctl rule line, "-w PATH -p PERMS -k KEY".
func (w Watch) Rule() string {
	p, k := w.Permissions, w.Key
	if p == "" {
		p = "wa"
	}
	if k == "" {
		k = DefaultWatchKey
	}
	return "-w " + w.Path + " -p " + p + " -k " + k
}

// Detections is the section "detections": what a user adds to the
// detection catalog.
type Detections struct {
	// Exclusions are extra exclusions by detection id.
	Exclusions map[string][]detections.Exclusion `yaml:"exclusions"`
	// Disabled are detection ids to turn off.
	Disabled []string `yaml:"disabled"`
}

// ApplyTo adds d to c: its exclusions after c's, its disabled ids after
// c's.
func (d Detections) ApplyTo(c *detections.Config) {
	if len(d.Exclusions) > 0 && c.Exclusions == nil {
		c.Exclusions = map[string][]detections.Exclusion{}
	}
	for id, xs := range d.Exclusions {
		c.Exclusions[id] = append(c.Exclusions[id], xs...)
	}
	c.Disabled = append(c.Disabled, d.Disabled...)
}

// File is a loaded configuration file. It is read-only after Load.
type File struct {
	Path       string
	Settings   []Setting  // the flag-mirroring keys, in file order
	Detections Detections // section "detections"
	Watches    []Watch    // section "watches"
}

// Load reads and strictly decodes the configuration file at path. Errors
// about the content are *Error values (joined when there are several).
// Whether each key names a flag is checked by Apply, which has the flag
// set.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, &Error{File: path, Err: fmt.Errorf("%w: larger than %d bytes", ErrSyntax, MaxFileBytes)}
	}
	return Parse(path, data)
}

// yamlLineRE matches the position yaml.v3 puts in its syntax errors.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse decodes data as the configuration file named name.
func Parse(name string, data []byte) (*File, error) {
	cf := &File{Path: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return cf, nil // empty file: all defaults
		}
		e := &Error{File: name, Err: fmt.Errorf("%w: %s", ErrSyntax, strings.TrimPrefix(err.Error(), "yaml: "))}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Err = fmt.Errorf("%w: %s", ErrSyntax, m[2])
		}
		return nil, e
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		e := &Error{File: name, Err: fmt.Errorf("%w: more than one YAML document", ErrSyntax)}
		if err == nil {
			e.Line, e.Column = extra.Line, extra.Column
		}
		return nil, e
	}
	d := &decoder{file: name}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return cf, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return cf, nil // a file of comments only
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", ErrSyntax, "want a mapping of keys at the top, got %s", kindName(root))
		return nil, d.err()
	}
	d.top(root, cf)
	if err := d.err(); err != nil {
		return nil, err
	}
	return cf, nil
}

// top walks the top-level mapping: typed sections, and flag settings
// everywhere else.
func (d *decoder) top(root *yaml.Node, cf *File) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !d.key(k, "", seen) {
			continue
		}
		switch k.Value {
		case SectionDetections:
			d.detections(v, cf)
		case SectionWatches:
			d.watches(v, cf)
		default:
			d.settings(k.Value, v, cf, 1)
		}
	}
}

func (d *decoder) detections(v *yaml.Node, cf *File) {
	var rc Detections
	n := d.len()
	d.decode(v, &rc, SectionDetections, 1)
	if d.len() > n {
		return
	}
	// Locate each entry so that a refusal names its line.
	if m := child(v, "exclusions"); m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			id, list := m.Content[i], m.Content[i+1]
			key := SectionDetections + ".exclusions." + id.Value
			if err := (detections.Config{Exclusions: map[string][]detections.Exclusion{id.Value: nil}}).Validate(); err != nil {
				d.errorf(id, key, ErrBadValue, "%v", err)
				continue
			}
			for j, x := range rc.Exclusions[id.Value] {
				if err := x.Validate(); err != nil {
					d.errorf(list.Content[j], fmt.Sprintf("%s[%d]", key, j), ErrBadValue, "%v", err)
				}
			}
		}
	}
	if s := child(v, "disabled"); s != nil && s.Kind == yaml.SequenceNode {
		for j, id := range rc.Disabled {
			if err := (detections.Config{Disabled: []string{id}}).Validate(); err != nil {
				d.errorf(s.Content[j], fmt.Sprintf("%s.disabled[%d]", SectionDetections, j), ErrBadValue, "%v", err)
			}
		}
	}
	cf.Detections = rc
}

func (d *decoder) watches(v *yaml.Node, cf *File) {
	var ws []Watch
	n := d.len()
	d.decode(v, &ws, SectionWatches, 1)
	if d.len() > n {
		return
	}
	if len(ws) > MaxWatches {
		d.errorf(v, SectionWatches, ErrBadValue, "more than %d watches", MaxWatches)
		return
	}
	for j, w := range ws {
		key := fmt.Sprintf("%s[%d]", SectionWatches, j)
		if err := w.Validate(); err != nil {
			d.errorf(v.Content[j], key, ErrBadValue, "%v", err)
		}
	}
	cf.Watches = ws
}

// settings collects the flag settings under key (a dotted YAML path).
func (d *decoder) settings(key string, v *yaml.Node, cf *File, depth int) {
	if depth > maxDepth {
		d.errorf(v, key, ErrSyntax, "nested deeper than %d", maxDepth)
		return
	}
	switch v.Kind {
	case yaml.MappingNode:
		seen := map[string]bool{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := v.Content[i]
			if d.key(k, key, seen) {
				d.settings(key+"."+k.Value, v.Content[i+1], cf, depth+1)
			}
		}
	case yaml.SequenceNode:
		s := Setting{Key: key, Flag: FlagName(key), List: true, Values: []string{}, Line: v.Line, Column: v.Column}
		for j, e := range v.Content {
			if !d.scalar(e, fmt.Sprintf("%s[%d]", key, j)) {
				return
			}
			s.Values = append(s.Values, e.Value)
		}
		cf.Settings = append(cf.Settings, s)
	default:
		if d.scalar(v, key) {
			cf.Settings = append(cf.Settings, Setting{Key: key, Flag: FlagName(key), Values: []string{v.Value}, Line: v.Line, Column: v.Column})
		}
	}
}

// FlagName maps a dotted YAML key to its flag name: "_" becomes "-".
func FlagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// KeyName maps a flag name to its dotted YAML key: "-" becomes "_".
func KeyName(flag string) string { return strings.ReplaceAll(flag, "-", "_") }
