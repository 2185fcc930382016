package ecs

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadTestFields(t testing.TB) map[string]FieldDef {
	t.Helper()
	fields, err := LoadFields(fieldsCSV)
	if err != nil {
		t.Fatalf("load fields: %v", err)
	}
	return fields
}

func TestLoadFieldsReadsTheECSCSV(t *testing.T) {
	fields := loadTestFields(t)
	if len(fields) != 1780 {
		t.Errorf("%d fields, want the 1780 rows of the csv", len(fields))
	}
	cases := []FieldDef{
		{Name: "@timestamp", Type: "date"},
		{Name: "event.sequence", Type: "long"},
		{Name: "event.risk_score", Type: "float"},
		{Name: "process.args", Type: "keyword", Array: true},
		{Name: "threat.technique.id", Type: "keyword", Array: true},
		{Name: "process.command_line", Type: "wildcard"},
	}
	for _, want := range cases {
		if got := fields[want.Name]; got != want {
			t.Errorf("%s: %+v, want %+v", want.Name, got, want)
		}
	}
}

func TestLoadFieldsRejectsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("a,b,c\n1,2,3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFields(bad); !errors.Is(err, ErrFieldsFile) {
		t.Errorf("bad header: %v, want ErrFieldsFile", err)
	}
	if _, err := LoadFields(filepath.Join(dir, "missing.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

// TestGoldenDocumentsAreECS flattens every golden document and checks each
// field outside auditd.* against the ECS csv.
func TestGoldenDocumentsAreECS(t *testing.T) {
	fields := loadTestFields(t)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			doc := decode(t, goldenOutput(t, c))
			for _, err := range ValidateDocument(doc, fields) {
				t.Error(err)
			}
			for _, want := range []string{"@timestamp", "ecs.version", "event.kind", "rule.id", "threat.technique.subtechnique.id", "host.os.type", "auditd.sequence"} {
				if _, ok := get(doc, want); !ok {
					t.Errorf("field %s missing", want)
				}
			}
		})
	}
}

func TestValidateDocumentFindsViolations(t *testing.T) {
	fields := loadTestFields(t)
	cases := []struct {
		name string
		doc  string
		want []error
	}{
		{"a valid document passes", `{"@timestamp":"2024-04-10T12:00:00.000Z","event":{"sequence":5,"risk_score":4.5,"category":["driver"]},"auditd":{"anything":[1,{"x":null}]}}`, nil},
		{"dotted keys flatten like objects", `{"event.kind":"alert","process":{"parent.pid":1}}`, nil},
		{"an unknown field fails", `{"event":{"made_up":"x"}}`, []error{ErrUnknownField}},
		{"a custom top-level object other than auditd fails", `{"custom":{"a":1}}`, []error{ErrUnknownField}},
		{"a string for a long fails", `{"process":{"pid":"12"}}`, []error{ErrFieldType}},
		{"a fraction for a long fails", `{"process":{"pid":1.5}}`, []error{ErrFieldType}},
		{"a number for a keyword fails", `{"user":{"id":0}}`, []error{ErrFieldType}},
		{"a non-RFC 3339 date fails", `{"@timestamp":"10/04/2024"}`, []error{ErrFieldType}},
		{"a scalar for an array field fails", `{"event":{"category":"driver"}}`, []error{ErrArrayExpected}},
		{"an array for a scalar field fails", `{"process":{"name":["a","b"]}}`, []error{ErrArrayUnexpected}},
		{"a bad ip fails", `{"source":{"ip":"999.1.1.1"}}`, []error{ErrFieldType}},
		{"null fails", `{"event":{"action":null}}`, []error{ErrFieldType}},
		{"object fields take any content", `{"labels":{"a":"b","c":{"d":1}}}`, nil},
		{"errors are reported in field order", `{"z":{"a":1},"process":{"pid":"x"}}`, []error{ErrFieldType, ErrUnknownField}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := json.NewDecoder(strings.NewReader(c.doc))
			d.UseNumber()
			var doc map[string]any
			if err := d.Decode(&doc); err != nil {
				t.Fatal(err)
			}
			errs := ValidateDocument(doc, fields)
			if len(errs) != len(c.want) {
				t.Fatalf("errors %v, want %v", errs, c.want)
			}
			for i := range errs {
				if !errors.Is(errs[i], c.want[i]) {
					t.Errorf("error %d: %v, want %v", i, errs[i], c.want[i])
				}
			}
		})
	}
}

func TestHostileDocumentsAreECS(t *testing.T) {
	fields := loadTestFields(t)
	ev := readEvent(t, "testdata/hostile-init_module-names.log", 0)
	a := loadAlert(ev, nil)
	var out bytes.Buffer
	if err := newTestEncoder(t, &out).WriteAlert(a); err != nil {
		t.Fatal(err)
	}
	for _, err := range ValidateDocument(decode(t, out.Bytes()), fields) {
		t.Error(err)
	}
}
