package provenance

import (
	"os"
	"testing"
)

// BenchmarkIndexThisHost measures building the index of this host's dpkg
// database (what a database change costs, at most once per recheck).
func BenchmarkIndexThisHost(b *testing.B) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		b.Skip("no dpkg database")
	}
	for i := 0; i < b.N; i++ {
		v := New("/", nil)
		if v.Kind() != "dpkg" {
			b.Fatal(v.Kind())
		}
	}
}
