package kmsg

import "errors"

// Config configures a Reader.
type Config struct {
	// Path is the kernel log device. Default /dev/kmsg.
	Path string
	// Backlog reads the records already in the ring buffer at start
	// (E10 and E12 print once per boot, often before the daemon starts);
	// false starts at the end. Default true.
	Backlog bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Path: "/dev/kmsg", Backlog: true}
}

// Validate checks c.
func (c Config) Validate() error {
	if c.Path == "" {
		return errors.New("kmsg path is empty")
	}
	return nil
}
