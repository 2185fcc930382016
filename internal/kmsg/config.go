package kmsg

import (
	"errors"
	"fmt"
	"time"
)

// Config configures a Reader.
type Config struct {
	// Path is the kernel log device. Default /dev/kmsg.
	Path string
	// Backlog reads the records already in the ring buffer at start
	// (E10 and E12 print once per boot, often before the daemon starts);
	// false starts at the end. Default true.
	Backlog bool
	// PollInterval bounds how long the reader waits in poll(2) before it
	// looks at its context again. Default 250ms.
	PollInterval time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Path: "/dev/kmsg", Backlog: true, PollInterval: 250 * time.Millisecond}
}

// Validate checks c.
func (c Config) Validate() error {
	if c.Path == "" {
		return errors.New("kmsg path is empty")
	}
	if c.PollInterval < time.Millisecond || c.PollInterval > time.Minute {
		return fmt.Errorf("kmsg poll interval %s: want 1ms to 1m", c.PollInterval)
	}
	return nil
}
