package vm

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
)

func TestParseAptShow(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		version  string
		deps     []string
	}{
		{"metapackage", "Package: linux-image-amd64\nVersion: 6.1.192-3\nDepends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)\n\n",
			"6.1.192-3", []string{"linux-image-6.1.0-57-amd64"}},
		{"headers", "Package: linux-headers-6.1.0-57-amd64\nVersion: 6.1.192-3\nDepends: linux-headers-6.1.0-57-common (= 6.1.192-3), linux-kbuild-6.1 (>= 6.1.192-3), linux-compiler-gcc-12-x86\n",
			"6.1.192-3", []string{"linux-headers-6.1.0-57-common", "linux-kbuild-6.1", "linux-compiler-gcc-12-x86"}},
		{"alternatives and second stanza", "Version: 1\nDepends: a | b, c:any\n\nVersion: 2\nDepends: z\n",
			"1", []string{"a"}},
		{"no version", "Package: x\n", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, d := parseAptShow([]byte(tc.in))
			if v != tc.version || !reflect.DeepEqual(d, tc.deps) {
				t.Errorf("got %q %q, want %q %q", v, d, tc.version, tc.deps)
			}
		})
	}
}

func sent(files ...string) []byte {
	var b bytes.Buffer
	for i := 0; i+1 < len(files); i += 2 {
		b.WriteString(markFile + files[i] + "\r\n")
		enc := base64.StdEncoding.EncodeToString([]byte(files[i+1]))
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n" + markFileEnd + "\r\n")
	}
	return b.Bytes()
}

func TestParseData(t *testing.T) {
	big := strings.Repeat("type=SYSCALL msg=audit(1.2:3): x\n", 100)
	b := append(sent("alerts.json", "{}\n", "audit.log", big, "empty", ""), markAllSent+"\r\n"...)
	got, err := parseData(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"alerts.json": []byte("{}\n"), "audit.log": []byte(big), "empty": {}}
	if len(got) != len(want) {
		t.Fatalf("got %d files, want %d", len(got), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// Cut short (guest died while sending): an error, not a partial success.
	if _, err := parseData(sent("a", "x")); err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("truncated transfer: err = %v", err)
	}
	if _, err := parseData([]byte(markFile + "a\n!!!\n" + markFileEnd + "\n" + markAllSent + "\n")); err == nil {
		t.Error("bad base64 accepted")
	}
}

func FuzzParseData(f *testing.F) {
	f.Add(append(sent("a", "b"), markAllSent+"\n"...))
	f.Add([]byte(markFile + "\n" + markFileEnd + "\n"))
	f.Add([]byte("@@AUDITLKM-VM file x\r\n\xff\xfe\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := parseData(b)
		if err == nil && !bytes.Contains(b, []byte(markAllSent)) {
			t.Fatalf("success without the all-sent marker: %v", files)
		}
	})
}
