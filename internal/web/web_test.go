package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "auditlkm test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// serve runs Serve on a loopback port until the test ends.
func serve(t *testing.T, c Config) string {
	t.Helper()
	c.ListenAddress = "127.0.0.1:0"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(c)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "auditlkm_web_test_value", Help: "A test value."})
	g.Set(42)
	reg.MustRegister(g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, c, reg, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

func get(t *testing.T, client *http.Client, url, user, pass string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeWithTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	yml := "tls_server_config:\n  cert_file: " + certFile + "\n  key_file: " + keyFile +
		"\nbasic_auth_users:\n  prometheus: " + string(hash) + "\n"
	if err := os.WriteFile(webConfig, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.ConfigFile = webConfig
	addr := serve(t, c)
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	plain := &http.Client{Timeout: 5 * time.Second}

	tests := []struct {
		name       string
		client     *http.Client
		url        string
		user, pass string
		wantCode   int
		wantBody   string
	}{
		{"the right user and password over TLS get the metrics", tlsClient, "https://" + addr + "/metrics", "prometheus", "s3cret", 200, "auditlkm_web_test_value 42"},
		{"a wrong password is refused", tlsClient, "https://" + addr + "/metrics", "prometheus", "wrong", 401, "Unauthorized"},
		{"an unknown user is refused", tlsClient, "https://" + addr + "/metrics", "root", "s3cret", 401, "Unauthorized"},
		{"no credentials are refused", tlsClient, "https://" + addr + "/metrics", "", "", 401, "Unauthorized"},
		{"health needs credentials too", tlsClient, "https://" + addr + "/healthz", "", "", 401, "Unauthorized"},
		{"plain HTTP to the TLS port gets no metrics", plain, "http://" + addr + "/metrics", "prometheus", "s3cret", 400, "HTTPS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, tt.client, tt.url, tt.user, tt.pass)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tt.url, code, body, tt.wantCode, tt.wantBody)
			}
			if tt.wantCode != 200 && strings.Contains(body, "auditlkm_web_test_value") {
				t.Fatal("metrics leaked without authentication")
			}
		})
	}
	t.Run("a client that does not trust the certificate fails the handshake", func(t *testing.T) {
		c := &http.Client{Timeout: 5 * time.Second}
		code, body := get(t, c, "https://"+addr+"/metrics", "prometheus", "s3cret")
		if code != 0 || !strings.Contains(body, "certificate") {
			t.Fatalf("untrusted GET = %d %q, want a certificate error", code, body)
		}
	})
}

func TestServeWithoutConfigIsPlainHTTP(t *testing.T) {
	addr := serve(t, DefaultConfig())
	code, body := get(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/metrics", "", "")
	if code != 200 || !strings.Contains(body, "auditlkm_web_test_value 42") {
		t.Fatalf("GET /metrics = %d %q", code, body)
	}
	if code, body := get(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/healthz", "", ""); code != 200 || body != "ok\n" {
		t.Fatalf("GET /healthz = %d %q", code, body)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\nnot_a_field: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"the defaults are valid", func(*Config) {}, ""},
		{"an empty address disables the server", func(c *Config) { c.ListenAddress = ""; c.MetricsPath = "" }, ""},
		{"an address without a port is rejected", func(c *Config) { c.ListenAddress = "127.0.0.1" }, "listen address"},
		{"a relative metrics path is rejected", func(c *Config) { c.MetricsPath = "metrics" }, "metrics path"},
		{"a missing web config file is rejected", func(c *Config) { c.ConfigFile = filepath.Join(dir, "absent.yml") }, "web config file"},
		{"an invalid web config file is rejected", func(c *Config) { c.ConfigFile = bad }, "web config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultBindsLoopbackOnly(t *testing.T) {
	host, _, err := net.SplitHostPort(DefaultConfig().ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Fatalf("default listen host %q is not loopback", host)
	}
}
