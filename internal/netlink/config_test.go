package netlink

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"the defaults are valid", func(*Config) {}, ""},
		{"an empty mode means auto", func(c *Config) { c.Mode = "" }, ""},
		{"leaving the wait time is valid", func(c *Config) { c.BacklogWaitTime = LeaveBacklogWaitTime }, ""},
		{"an unknown mode is rejected", func(c *Config) { c.Mode = "broadcast" }, "mode"},
		{"a wait time below -1 is rejected", func(c *Config) { c.BacklogWaitTime = -2 }, "wait time"},
		{"a wait time above the kernel limit is rejected", func(c *Config) { c.BacklogWaitTime = maxBacklogWaitTime + 1 }, "wait time"},
		{"a negative receive buffer is rejected", func(c *Config) { c.ReceiveBufferBytes = -1 }, "receive buffer"},
		{"a huge receive buffer is rejected", func(c *Config) { c.ReceiveBufferBytes = MaxReceiveBufferBytes + 1 }, "receive buffer"},
		{"an empty queue is rejected", func(c *Config) { c.QueueRecords = 0 }, "queue"},
		{"a huge queue is rejected", func(c *Config) { c.QueueRecords = MaxQueueRecords + 1 }, "queue"},
		{"a zero poll interval is rejected", func(c *Config) { c.StatusPollInterval = 0 }, "poll interval"},
		{"an hour's poll interval is rejected", func(c *Config) { c.StatusPollInterval = time.Hour }, "poll interval"},
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

func TestNilMetricsCountNothing(t *testing.T) {
	var m *Metrics
	m.recordReceived(1300)
	m.receiveError(errnoENOBUFS)
	m.truncatedMessage()
	m.queueDrop(1300)
	m.parseError(reasonShort)
	m.replaceProbe()
	m.setQueueLength(3)
	if m, err := NewMetrics(nil); m == nil || err != nil {
		t.Fatalf("NewMetrics(nil) = %v, %v", m, err)
	}
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice with one registry: no error")
	}
}

func TestTypeLabelIsBounded(t *testing.T) {
	tests := []struct {
		typ  uint16
		want string
	}{
		{1300, "SYSCALL"},
		{1330, "KERN_MODULE"},
		{2999, "LAST_USER_MSG2"},
		{2998, "other"},
		{1999, "other"},
	}
	for _, tt := range tests {
		if got := typeLabel(auparseType(tt.typ)); got != tt.want {
			t.Errorf("typeLabel(%d) = %q, want %q", tt.typ, got, tt.want)
		}
	}
}
