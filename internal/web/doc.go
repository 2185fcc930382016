// Package web serves auditlkm's HTTP endpoints: /metrics from the daemon's
// own Prometheus registry and /healthz. Serve owns its listener and returns
// when the context is cancelled, after a bounded graceful shutdown.
package web
