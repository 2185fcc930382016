package statefile

import (
	"encoding/json"
	"testing"
)

func TestStringRoundTripsAnyBytes(t *testing.T) {
	for _, tc := range []struct{ in, json string }{
		{"/lib/modules/x.ko", `"/lib/modules/x.ko"`},
		{"", `""`},
		{"a\nb\"c", `"a\nb\"c"`},
		{"\xff\xfe.ko", `{"b64":"//4ua28="}`},
	} {
		b, err := json.Marshal(String(tc.in))
		if err != nil || string(b) != tc.json {
			t.Errorf("Marshal(%q) = %s, %v; want %s", tc.in, b, err, tc.json)
		}
		var back String
		if err := json.Unmarshal(b, &back); err != nil || string(back) != tc.in {
			t.Errorf("Unmarshal(%s) = %q, %v; want %q", b, back, err, tc.in)
		}
	}
	for _, bad := range []string{`{}`, `{"b64":"!"}`, `{"b64":1}`, `1`} {
		var s String
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("Unmarshal(%s) accepted: %q", bad, s)
		}
	}
	if Strings(nil) != nil || Plain(nil) != nil || Plain(Strings([]string{"a", "\xff"}))[1] != "\xff" {
		t.Error("Strings/Plain")
	}
}
