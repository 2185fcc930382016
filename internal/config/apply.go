package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Reserved flags are never mirrored: they describe the invocation, not the
// daemon.
var reserved = map[string]bool{"help": true, "config.file": true, "version": true}

// Apply sets the flags of fs named by the file's settings, except those
// set on the command line (Changed). It sets them through the flag's
// Value, so Changed stays false for them. A key that names a flag of one
// of also but not of fs is accepted and ignored: a command whose flags are
// a subset of another's (plugin, replay) reads the same file as run.
// Every refused key is reported, as *Error values joined in file order.
func (f *File) Apply(fs *pflag.FlagSet, also ...*pflag.FlagSet) error {
	d := &decoder{file: f.Path}
	for i := range f.Settings {
		s := &f.Settings[i]
		at := &yaml.Node{Line: s.Line, Column: s.Column}
		if strings.Contains(s.Key, "-") {
			d.errorf(at, s.Key, ErrUnknownKey, "keys use _ where flags use - (write %s)", KeyName(s.Key))
			continue
		}
		if reserved[s.Flag] {
			d.errorf(at, s.Key, ErrUnknownKey, "--%s cannot be set in the configuration file", s.Flag)
			continue
		}
		fl := fs.Lookup(s.Flag)
		if fl == nil {
			if !inAny(s.Flag, also) {
				d.errorf(at, s.Key, ErrUnknownKey, "no flag --%s", s.Flag)
			}
			continue
		}
		if fl.Changed {
			continue
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			if err := sv.Replace(s.Values); err != nil {
				d.errorf(at, s.Key, ErrBadValue, "invalid list for --%s (%s): %v", s.Flag, fl.Value.Type(), err)
			}
			continue
		}
		if s.List {
			d.errorf(at, s.Key, ErrBadValue, "want a value, got a list (--%s takes one %s)", s.Flag, fl.Value.Type())
			continue
		}
		if err := fl.Value.Set(s.Values[0]); err != nil {
			d.errorf(at, s.Key, ErrBadValue, "invalid value %q for --%s (%s): %v", s.Values[0], s.Flag, fl.Value.Type(), unwrapAll(err))
		}
	}
	return d.err()
}

// unwrapAll drops the "strconv.ParseUint: parsing ..." wrapping of
// numeric errors down to its reason ("invalid syntax", "value out of
// range"); other errors are kept whole.
func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func inAny(name string, sets []*pflag.FlagSet) bool {
	for _, s := range sets {
		if s != nil && s.Lookup(name) != nil {
			return true
		}
	}
	return false
}

// Source returns "file:line:column" of the key that set flag, if the file
// has one. Use it to place an error found after Apply, for example by a
// package's Config.Validate.
func (f *File) Source(flag string) (string, bool) {
	for _, s := range f.Settings {
		if s.Flag == flag {
			return fmt.Sprintf("%s:%d:%d", f.Path, s.Line, s.Column), true
		}
	}
	return "", false
}

// Diff returns, sorted, the names of the flags of old whose value differs
// in cur (or that cur lacks). A reload builds a fresh flag set from the
// command line and the new file and asks Diff what changed.
func Diff(old, cur *pflag.FlagSet) []string {
	var out []string
	old.VisitAll(func(o *pflag.Flag) {
		c := cur.Lookup(o.Name)
		if c == nil || flagValue(c) != flagValue(o) {
			out = append(out, o.Name)
		}
	})
	sort.Strings(out)
	return out
}

func flagValue(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), "\x00")
	}
	return f.Value.String()
}
