// Command auditlkm watches the kernel audit stream for kernel-module
// persistence (MITRE ATT&CK T1547.006) and writes ECS JSON alerts.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/auditlkm/auditlkm/internal/interrupt"
)

func main() {
	ctx, stop := interrupt.OnSignal(context.Background())
	err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "auditlkm:", err)
		os.Exit(1)
	}
}
