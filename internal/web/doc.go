// Package web serves auditlkm's HTTP endpoints: /metrics from the daemon's
// own Prometheus registry and /healthz. TLS and basic authentication come
// from a web configuration file in the format every Prometheus exporter
// reads (github.com/prometheus/exporter-toolkit). Serve owns its listener
// and returns when the context is cancelled, after a bounded graceful
// shutdown.
package web
