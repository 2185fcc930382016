package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder collects positioned errors while walking one file's nodes.
type decoder struct {
	file string
	errs []*Error
	more int // errors past maxErrors
}

func (d *decoder) errorf(n *yaml.Node, key string, kind error, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		d.more++
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Column: n.Column, Key: key,
		Err: fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))})
}

func (d *decoder) len() int { return len(d.errs) + d.more }

// err returns nil, the one error, or every error joined in file order.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	if len(d.errs) == 1 && d.more == 0 {
		return d.errs[0]
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i], d.errs[j]
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
	errs := make([]error, 0, len(d.errs)+1)
	for _, e := range d.errs {
		errs = append(errs, e)
	}
	if d.more > 0 {
		errs = append(errs, fmt.Errorf("%s: %d more errors", d.file, d.more))
	}
	return errors.Join(errs...)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "no value"
		}
		return "a value"
	}
	return "a document"
}

// key checks one mapping key; parent is the dotted path above it. It
// reports whether the entry should be used.
func (d *decoder) key(k *yaml.Node, parent string, seen map[string]bool) bool {
	full := k.Value
	if parent != "" {
		full = parent + "." + k.Value
	}
	switch {
	case k.Kind != yaml.ScalarNode || k.Tag == "!!null":
		d.errorf(k, parent, ErrSyntax, "a key must be a plain name, got %s", kindName(k))
		return false
	case k.Value == "<<":
		d.errorf(k, parent, ErrSyntax, "merge keys are not supported")
		return false
	case strings.Contains(k.Value, "."):
		d.errorf(k, full, ErrUnknownKey, "dotted keys must be nested (%s: {%s: ...})", k.Value[:strings.IndexByte(k.Value, '.')], k.Value[strings.IndexByte(k.Value, '.')+1:])
		return false
	case seen[k.Value]:
		d.errorf(k, full, ErrSyntax, "duplicate key")
		return false
	}
	seen[k.Value] = true
	return true
}

// scalar checks that n is a value (not a list, mapping, alias or null).
func (d *decoder) scalar(n *yaml.Node, key string) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		d.errorf(n, key, ErrSyntax, "aliases are not supported")
	case n.Kind != yaml.ScalarNode:
		d.errorf(n, key, ErrBadValue, "want a value, got %s", kindName(n))
	case n.Tag == "!!null":
		d.errorf(n, key, ErrBadValue, `no value (write "" for an empty string)`)
	case n.Tag == "!!binary":
		d.errorf(n, key, ErrBadValue, "binary values are not supported")
	default:
		return true
	}
	return false
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// decode strictly decodes n into out (a pointer) by reflection: structs by
// their yaml tags, maps with string keys, slices, strings, booleans and
// integers. Anything else in the target type is a programming error.
func (d *decoder) decode(n *yaml.Node, out any, key string, depth int) {
	d.value(n, reflect.ValueOf(out).Elem(), key, depth)
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, key string, depth int) {
	if depth > maxDepth {
		d.errorf(n, key, ErrSyntax, "nested deeper than %d", maxDepth)
		return
	}
	if n.Kind == yaml.AliasNode {
		d.errorf(n, key, ErrSyntax, "aliases are not supported")
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structValue(n, v, key, depth)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, key, ErrBadValue, "want a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if !d.key(k, key, seen) {
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			d.value(n.Content[i+1], e, key+"."+k.Value, depth+1)
			m.SetMapIndex(reflect.ValueOf(k.Value), e)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, key, ErrBadValue, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for j, e := range n.Content {
			d.value(e, s.Index(j), fmt.Sprintf("%s[%d]", key, j), depth+1)
		}
		v.Set(s)
	case reflect.String:
		if d.scalar(n, key) {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if !d.scalar(n, key) {
			return
		}
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			d.errorf(n, key, ErrBadValue, "want true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !d.scalar(n, key) {
			return
		}
		i, err := strconv.ParseInt(n.Value, 10, v.Type().Bits())
		if err != nil {
			d.errorf(n, key, ErrBadValue, "want an integer, got %q", n.Value)
			return
		}
		v.SetInt(i)
	default:
		panic("config: cannot decode into " + v.Type().String())
	}
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, key string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, key, ErrBadValue, "want a mapping, got %s", kindName(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !t.Field(i).IsExported() {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !d.key(k, key, seen) {
			continue
		}
		fi, ok := fields[k.Value]
		if !ok {
			d.errorf(k, key+"."+k.Value, ErrUnknownKey, "want one of %s", strings.Join(names, ", "))
			continue
		}
		d.value(n.Content[i+1], v.Field(fi), key+"."+k.Value, depth+1)
	}
}
