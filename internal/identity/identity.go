// Package identity gives this agent the stable identifier ECS puts in
// agent.id: generated once (a random UUID) and kept in the state
// directory, so that it survives restarts and upgrades, and differs
// between two installations on cloned machines that share a machine-id.
// Without a state directory (a replay) the identifier is derived from
// the machine-id, still stable on the host.
package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the agent identifier's file in the state directory.
const FileName = "agent-id"

// AgentID returns the agent identifier kept in stateDir, creating it (mode
// 0644, written atomically) the first time. With an empty stateDir it is
// derived from machineID; with neither it is "".
func AgentID(stateDir, machineID string) (string, error) {
	if stateDir == "" {
		return derived(machineID), nil
	}
	p := filepath.Join(stateDir, FileName)
	if b, err := os.ReadFile(p); err == nil {
		if id := strings.TrimSpace(string(b)); valid(id) {
			return id, nil
		}
		// A damaged file is replaced: an agent without identity is worse.
	} else if !errors.Is(err, fs.ErrNotExist) {
		return derived(machineID), fmt.Errorf("read agent id: %w", err)
	}
	id, err := newUUID()
	if err != nil {
		return derived(machineID), err
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return derived(machineID), fmt.Errorf("agent id: %w", err)
	}
	tmp, err := os.CreateTemp(stateDir, FileName+".tmp*")
	if err != nil {
		return derived(machineID), fmt.Errorf("agent id: %w", err)
	}
	_, werr := tmp.WriteString(id + "\n")
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return derived(machineID), fmt.Errorf("write agent id: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return derived(machineID), fmt.Errorf("write agent id: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return derived(machineID), fmt.Errorf("write agent id: %w", err)
	}
	return id, nil
}

// valid reports whether s looks like a UUID (36 characters, hex and
// hyphens at the right places).
func valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
	}
	return true
}

func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("agent id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return format(b), nil
}

// derived is a name-based UUID (SHA-256 of the machine-id, version 8).
func derived(machineID string) string {
	machineID = strings.TrimSpace(machineID)
	if machineID == "" {
		return ""
	}
	h := sha256.Sum256([]byte("auditlkm agent.id\x00" + machineID))
	var b [16]byte
	copy(b[:], h[:16])
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return format(b)
}

func format(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
