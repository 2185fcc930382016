package test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"golang.org/x/crypto/bcrypt"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// tlsFixture is a self-signed certificate for 127.0.0.1 and a web config
// with one basic-auth user.
type tlsFixture struct {
	certFile, keyFile, webConfig string
	user, pass                   string
	pool                         *x509.CertPool
}

func newTLSFixture(t *testing.T) tlsFixture {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "auditlkm test"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := tlsFixture{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"),
		webConfig: filepath.Join(dir, "web.yml"), user: "prometheus", pass: unique(t)}
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(f.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(f.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	hash, err := bcrypt.GenerateFromPassword([]byte(f.pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	write(f.webConfig, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
		f.certFile, f.keyFile, f.user, hash)))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	f.pool = x509.NewCertPool()
	f.pool.AddCert(cert)
	return f
}

// scrapeTLS fetches /metrics over TLS with basic auth.
func (f tlsFixture) scrape(t *testing.T, addr string) []byte {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool}}}
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(f.user, f.pass)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("scrape over TLS: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape over TLS: %d %v", resp.StatusCode, err)
	}
	return b
}

// promtoolCheck runs `promtool check metrics` on a real scrape.
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	cmd := exec.Command(lookTool(t, "promtool"), "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// promQuery asks Prometheus' HTTP API for an instant vector's only value.
func promQuery(t *testing.T, promAddr, query string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 {
		return 0, false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// TestPrometheusScrapesOverTLSWithBasicAuth starts Debian's Prometheus on
// loopback, has it scrape the daemon over TLS with basic auth, and reads
// the values back through Prometheus' HTTP API; promtool checks a real
// scrape.
func TestPrometheusScrapesOverTLSWithBasicAuth(t *testing.T) {
	snap := kerneltest.Require(t)
	requireFreePID(t, snap)
	prom := lookTool(t, "prometheus")
	fx := newTLSFixture(t)
	d := startLoadDaemon(t, "--web.config.file", fx.webConfig)

	// Plain HTTP and missing credentials get nothing.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + d.addr + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(b, []byte("auditlkm_")) {
			t.Fatal("metrics served over plain HTTP with a TLS web config")
		}
	}

	r := runLoadgen(t, "-mode", "module", "-rate", "2000", "-duration", "1s")
	body := fx.scrape(t, d.addr)
	promtoolCheck(t, body)

	dir := t.TempDir()
	promAddr := freePort(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: auditlkm
    scheme: https
    tls_config:
      ca_file: %s
    basic_auth:
      username: %s
      password: %s
    static_configs:
      - targets: ['%s']
`, fx.certFile, fx.user, fx.pass, d.addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pcmd := exec.CommandContext(ctx, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	var plog bytes.Buffer
	pcmd.Stdout, pcmd.Stderr = &plog, &plog
	if err := pcmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = pcmd.Wait() })

	// The values Prometheus stored must equal the daemon's own, which no
	// longer move: the load is over.
	own := func(name string, labels ...string) float64 {
		var p expfmt.TextParser
		mfs, err := p.TextToMetricFamilies(bytes.NewReader(fx.scrape(t, d.addr)))
		if err != nil {
			t.Fatal(err)
		}
		return metrics(mfs).sum(name, labels...)
	}
	checks := []struct {
		query, name string
		labels      []string
	}{
		{`auditlkm_detections_alerts_total{rule_id="kernel-module-load"}`, "auditlkm_detections_alerts_total", []string{"rule_id=kernel-module-load"}},
		{`auditlkm_detections_aggregated_total{rule_id="kernel-module-load"}`, "auditlkm_detections_aggregated_total", []string{"rule_id=kernel-module-load"}},
		{`auditlkm_netlink_records_received_total{type="SYSCALL"}`, "auditlkm_netlink_records_received_total", []string{"type=SYSCALL"}},
		{`auditlkm_kernel_backlog_limit`, "auditlkm_kernel_backlog_limit", nil},
		{`auditlkm_kernel_lost_total`, "auditlkm_kernel_lost_total", nil},
		{`auditlkm_kernel_pid_held`, "auditlkm_kernel_pid_held", nil},
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range checks {
		for {
			want := own(c.name, c.labels...)
			got, ok := promQuery(t, promAddr, c.query)
			if ok && got == want {
				t.Logf("%s = %v in Prometheus and in /metrics", c.query, got)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Prometheus has %s = %v (%v), /metrics says %v\nprometheus log:\n%s", c.query, got, ok, want, plog.String())
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	if v, ok := promQuery(t, promAddr, `up{job="auditlkm"}`); !ok || v != 1 {
		t.Errorf("up = %v %v, want 1", v, ok)
	}
	if v, ok := promQuery(t, promAddr, `count(auditlkm_build_info)`); !ok || v != 1 {
		t.Errorf("auditlkm_build_info series = %v %v, want 1", v, ok)
	}
	// Alert storms are aggregated: written alerts plus those held back in
	// summaries (each counted in auditlkm_detections_aggregated_total) account
	// for every attempt. A summary is itself one of the held-back alerts.
	q := `sum(auditlkm_detections_alerts_total{rule_id="kernel-module-load"}) + sum(auditlkm_detections_aggregated_total{rule_id="kernel-module-load"})`
	if v, _ := promQuery(t, promAddr, q); v < float64(r.Sent) {
		t.Errorf("Prometheus counted %v module-load alerts written or aggregated, the generator sent %d", v, r.Sent)
	}
	if strings.Contains(plog.String(), "level=error") {
		t.Logf("prometheus log:\n%s", plog.String())
	}
	d.stop(t)
	assertKernelAsFound(t, snap)
}
