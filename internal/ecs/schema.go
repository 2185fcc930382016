package ecs

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// CustomRoot is the one top-level object that holds every field that is
// not ECS. ValidateDocument does not check anything under it.
const CustomRoot = "auditd"

// maxFieldRows bounds the rows LoadFields reads; the ECS csv has ~1,800.
const maxFieldRows = 100_000

// Sentinel errors of LoadFields and ValidateDocument.
var (
	// ErrFieldsFile: the csv lacks the Field, Type or Normalization column,
	// or has too many rows.
	ErrFieldsFile = errors.New("not an ECS fields.csv")
	// ErrUnknownField: a field outside auditd.* is not in ECS.
	ErrUnknownField = errors.New("not an ECS field")
	// ErrFieldType: a value's JSON kind does not match the field's ECS type.
	ErrFieldType = errors.New("value does not match the ECS type")
	// ErrArrayExpected: the field's Normalization is array but the value
	// is a single value.
	ErrArrayExpected = errors.New("ECS array field holds a single value")
	// ErrArrayUnexpected: the value is an array but the field is not an
	// array field in ECS.
	ErrArrayUnexpected = errors.New("array value for a non-array ECS field")
)

// FieldDef is one row of the ECS fields.csv.
type FieldDef struct {
	Name  string // dotted name, e.g. "process.args"
	Type  string // ECS type: keyword, long, date, ...
	Array bool   // Normalization lists "array"
}

// LoadFields reads the ECS generated/csv/fields.csv at csvPath.
func LoadFields(csvPath string) (map[string]FieldDef, error) {
	f, err := os.Open(csvPath)
	if err != nil {
		return nil, fmt.Errorf("load ecs fields: %w", err)
	}
	defer f.Close()
	fields, err := readFields(f)
	if err != nil {
		return nil, fmt.Errorf("load ecs fields %s: %w", csvPath, err)
	}
	return fields, nil
}

func readFields(r io.Reader) (map[string]FieldDef, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	iName, iType, iNorm := slices.Index(head, "Field"), slices.Index(head, "Type"), slices.Index(head, "Normalization")
	if iName < 0 || iType < 0 || iNorm < 0 {
		return nil, fmt.Errorf("%w: header %q", ErrFieldsFile, head)
	}
	need := max(iName, iType, iNorm)
	fields := make(map[string]FieldDef, 2048)
	for n := 0; ; n++ {
		if n == maxFieldRows {
			return nil, fmt.Errorf("%w: more than %d rows", ErrFieldsFile, maxFieldRows)
		}
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read row %d: %w", n+2, err)
		}
		if len(row) <= need {
			return nil, fmt.Errorf("%w: row %d has %d columns", ErrFieldsFile, n+2, len(row))
		}
		d := FieldDef{Name: row[iName], Type: row[iType]}
		for _, v := range strings.Split(row[iNorm], ",") {
			if strings.TrimSpace(v) == "array" {
				d.Array = true
			}
		}
		fields[d.Name] = d
	}
	return fields, nil
}

// ValidateDocument checks one decoded JSON document against the ECS field
// definitions and returns every problem found, in field-name order (nil if
// none). Decode with json.Decoder.UseNumber to check long values exactly;
// float64 numbers are accepted too.
//
// Objects are flattened to dotted names (keys that contain dots are
// treated the same way). Everything under the top-level "auditd" object is
// skipped. Every other leaf must name an ECS field, except below a field
// of type object, flattened or nested, whose contents are free. The JSON
// kind must match the ECS type: keyword, wildcard, text, match_only_text,
// constant_keyword and version are strings; long, integer, short, byte and
// unsigned_long are integral numbers; float, half_float, scaled_float and
// double are numbers; date is an RFC 3339 string; ip is a string holding
// an IP address; boolean is a bool; geo_point is an object or a string.
//
// Arrays are checked strictly both ways, although Elasticsearch accepts an
// array for any field: a field whose Normalization is array must hold a
// JSON array (even for one value), and any other field must hold a single
// value. That is what ECS consumers (detection rules, Kibana) expect.
func ValidateDocument(doc map[string]any, fields map[string]FieldDef) []error {
	v := validator{fields: fields}
	v.object("", doc)
	return v.errs
}

type validator struct {
	fields map[string]FieldDef
	errs   []error
}

func (v *validator) fail(name string, err error, detail string) {
	if detail != "" {
		v.errs = append(v.errs, fmt.Errorf("field %s: %w (%s)", name, err, detail))
		return
	}
	v.errs = append(v.errs, fmt.Errorf("field %s: %w", name, err))
}

func (v *validator) object(prefix string, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		v.value(name, m[k])
	}
}

func (v *validator) value(name string, val any) {
	if name == CustomRoot || strings.HasPrefix(name, CustomRoot+".") {
		return
	}
	def, ok := v.fields[name]
	if !ok {
		switch x := val.(type) {
		case map[string]any:
			v.object(name, x)
		case []any:
			// An array of objects flattens like Elasticsearch does: each
			// element's fields under the same name.
			for _, e := range x {
				if m, isObj := e.(map[string]any); isObj {
					v.object(name, m)
				} else {
					v.fail(name, ErrUnknownField, "")
					return
				}
			}
		default:
			v.fail(name, ErrUnknownField, "")
		}
		return
	}
	arr, isArr := val.([]any)
	switch {
	case def.Type == "nested" && isArr:
		for _, e := range arr {
			v.scalar(def, e)
		}
	case def.Array && !isArr:
		v.fail(name, ErrArrayExpected, "")
	case !def.Array && isArr:
		v.fail(name, ErrArrayUnexpected, "")
	case isArr:
		for _, e := range arr {
			v.scalar(def, e)
		}
	default:
		v.scalar(def, val)
	}
}

// scalar checks one (non-array) value against def's type.
func (v *validator) scalar(def FieldDef, val any) {
	kind := jsonKind(val)
	bad := func(want string) {
		v.fail(def.Name, ErrFieldType, fmt.Sprintf("%s wants %s, got %s", def.Type, want, kind))
	}
	switch def.Type {
	case "keyword", "wildcard", "text", "match_only_text", "constant_keyword", "version":
		if kind != "string" {
			bad("a string")
		}
	case "long", "integer", "short", "byte", "unsigned_long":
		if !isInteger(val) {
			bad("an integral number")
		}
	case "float", "half_float", "scaled_float", "double":
		if kind != "number" {
			bad("a number")
		}
	case "date":
		s, ok := val.(string)
		if !ok {
			bad("an RFC 3339 string")
		} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			v.fail(def.Name, ErrFieldType, fmt.Sprintf("date %q is not RFC 3339", s))
		}
	case "ip":
		s, ok := val.(string)
		if !ok {
			bad("an IP address string")
		} else if _, err := netip.ParseAddr(s); err != nil {
			v.fail(def.Name, ErrFieldType, fmt.Sprintf("ip %q is not an address", s))
		}
	case "boolean":
		if kind != "bool" {
			bad("a bool")
		}
	case "geo_point":
		if kind != "object" && kind != "string" {
			bad("an object or a string")
		}
	case "object", "flattened", "nested":
		if kind != "object" {
			bad("an object")
		}
	default:
		v.fail(def.Name, ErrFieldType, fmt.Sprintf("unsupported ECS type %q", def.Type))
	}
}

func jsonKind(val any) string {
	switch val.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64, json.Number, int, int64, uint64:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", val)
}

func isInteger(val any) bool {
	switch x := val.(type) {
	case json.Number:
		_, err := x.Int64()
		if err != nil {
			// unsigned_long beyond int64: all digits is still integral.
			s := x.String()
			return s != "" && strings.Trim(s, "0123456789") == ""
		}
		return true
	case float64:
		return x == math.Trunc(x) && !math.IsInf(x, 0)
	case int, int64, uint64:
		return true
	}
	return false
}
