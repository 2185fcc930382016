package detections

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/provenance"
)

// testSystem is a small installed system under a temporary root: a dpkg
// database whose package "genuine" owns the listed paths, each file
// present with the content the database records, plus files no package
// owns. Verifiers over it are the real provenance.Verifier.
type testSystem struct {
	root string
	v    *provenance.Verifier
}

// newTestSystem builds the system: owned files are package-owned and
// unchanged, loose files exist but no package lists them, and tampered
// files are listed with another checksum.
func newTestSystem(t *testing.T, owned, loose, tampered []string) *testSystem {
	t.Helper()
	root := t.TempDir()
	put := func(p, content string) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var list, sums []string
	for _, p := range owned {
		put(p, "genuine "+p)
		h := md5.Sum([]byte("genuine " + p))
		list = append(list, p)
		sums = append(sums, hex.EncodeToString(h[:])+"  "+strings.TrimPrefix(p, "/"))
	}
	for _, p := range tampered {
		put(p, "tampered "+p)
		h := md5.Sum([]byte("genuine " + p))
		list = append(list, p)
		sums = append(sums, hex.EncodeToString(h[:])+"  "+strings.TrimPrefix(p, "/"))
	}
	for _, p := range loose {
		put(p, "loose "+p)
	}
	sort.Strings(list)
	put("var/lib/dpkg/status", "Package: genuine\nStatus: install ok installed\n")
	put("var/lib/dpkg/info/genuine.list", "/.\n"+strings.Join(list, "\n")+"\n")
	put("var/lib/dpkg/info/genuine.md5sums", strings.Join(sums, "\n")+"\n")
	return &testSystem{root: root, v: provenance.New(root, nil)}
}

// withProvenance makes every exclusion of r verify with p.
func withProvenance[R interface{ Exclusions() []Exclusion }](r R, p Provenance) R {
	setProvenance(r.Exclusions(), p)
	return r
}
