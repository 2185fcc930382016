package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// Config says where to listen and how to protect the endpoint.
type Config struct {
	ListenAddress string // host:port; empty disables the server
	MetricsPath   string
	// ConfigFile is an exporter-toolkit web configuration file (TLS server
	// certificate, client CAs, basic_auth_users with bcrypt hashes, HTTP
	// headers). Empty: plain HTTP without authentication. The file is
	// re-read on every connection, like every Prometheus exporter does.
	ConfigFile string
}

// DefaultConfig binds to loopback only.
func DefaultConfig() Config {
	return Config{ListenAddress: "127.0.0.1:9847", MetricsPath: "/metrics"}
}

// Validate checks the address, the path and the web configuration file.
func (c Config) Validate() error {
	if c.ListenAddress == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		return fmt.Errorf("web listen address %q: %w", c.ListenAddress, err)
	}
	if len(c.MetricsPath) == 0 || c.MetricsPath[0] != '/' {
		return fmt.Errorf("web metrics path %q: must start with /", c.MetricsPath)
	}
	if c.ConfigFile != "" {
		if err := web.Validate(c.ConfigFile); err != nil {
			return fmt.Errorf("web config file %s: %w", c.ConfigFile, err)
		}
	}
	return nil
}

// shutdownTimeout bounds the graceful shutdown of the HTTP server.
const shutdownTimeout = 5 * time.Second

// readHeaderTimeout bounds a client's request headers.
const readHeaderTimeout = 10 * time.Second

// Listen binds the address now, so that a taken port fails the start of
// the daemon rather than later. Serve with the returned listener.
func Listen(c Config) (net.Listener, error) {
	l, err := net.Listen("tcp", c.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", c.ListenAddress, err)
	}
	return l, nil
}

// Handler returns the endpoints without TLS or authentication.
func Handler(c Config, g prometheus.Gatherer, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(c.MetricsPath, promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slogAdapter{log}, ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

// Serve answers on l until ctx is cancelled, with TLS and basic
// authentication when c.ConfigFile asks for them. l is closed on return.
func Serve(ctx context.Context, l net.Listener, c Config, g prometheus.Gatherer, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{Handler: Handler(c, g, log), ReadHeaderTimeout: readHeaderTimeout}
	file := c.ConfigFile
	flags := &web.FlagConfig{WebConfigFile: &file}
	errc := make(chan error, 1)
	go func() { errc <- web.Serve(l, srv, flags, log) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Println(v ...any) { a.log.Error("metrics", "err", fmt.Sprint(v...)) }
