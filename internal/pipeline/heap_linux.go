package pipeline

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// adviseHugePages reserves size bytes at the heap's frontier and asks the
// kernel to back them with transparent huge pages (MADV_HUGEPAGE), then
// lets them go, so that the allocator carves the replay's objects from
// them. At the start of a replay the region is fresh memory that nothing
// has touched yet, so its pages fault in 2 MiB at a time instead of 4 KiB
// (pages already touched keep their size until the kernel's khugepaged
// merges them). It changes no data: the advice only fails where the
// kernel has no huge page support, and with transparent huge pages off
// ("never") it has no effect.
func adviseHugePages(size int) error {
	region := make([]byte, size)
	err := unix.Madvise(region, unix.MADV_HUGEPAGE)
	runtime.KeepAlive(region)
	return err
}
