package statefile

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// String is a string a state file keeps losslessly: valid UTF-8 is written
// as a JSON string, anything else as {"b64":"..."} (paths, arguments and
// module names are bytes; encoding/json would replace invalid UTF-8).
type String string

// MarshalJSON writes s as a JSON string or a {"b64":...} object.
func (s String) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(s)) {
		return json.Marshal(string(s))
	}
	return json.Marshal(struct {
		B64 string `json:"b64"`
	}{base64.StdEncoding.EncodeToString([]byte(s))})
}

// UnmarshalJSON reads either form MarshalJSON writes.
func (s *String) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var o struct {
			B64 *string `json:"b64"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		if o.B64 == nil {
			return errors.New("string object without b64")
		}
		d, err := base64.StdEncoding.DecodeString(*o.B64)
		if err != nil {
			return err
		}
		*s = String(d)
		return nil
	}
	var x string
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*s = String(x)
	return nil
}

// Strings converts ss for a state file (nil when empty).
func Strings(ss []string) []String {
	if len(ss) == 0 {
		return nil
	}
	out := make([]String, len(ss))
	for i, s := range ss {
		out[i] = String(s)
	}
	return out
}

// Plain converts ss back from a state file (nil when empty).
func Plain(ss []String) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
