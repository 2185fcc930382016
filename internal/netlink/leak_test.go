package netlink_test

import (
	"testing"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

func TestLeakOnPurpose(t *testing.T) {
	kerneltest.Require(t)
	if _, err := netlink.OpenControl(); err != nil {
		t.Fatal(err)
	}
}
