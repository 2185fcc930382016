package output

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds and defaults of a Syslog.
const (
	DefaultSyslogQueue        = 1024
	DefaultSyslogMaxMessage   = 64 << 10
	DefaultSyslogDialTimeout  = 5 * time.Second
	DefaultSyslogWriteTimeout = 5 * time.Second
	DefaultSyslogMinBackoff   = 100 * time.Millisecond
	DefaultSyslogMaxBackoff   = 30 * time.Second
	DefaultSyslogDrainTimeout = 5 * time.Second
	// maxSendAttempts bounds the writes of one message over fresh
	// connections before it is dropped.
	maxSendAttempts = 3
	// maxQueue bounds SyslogConfig.QueueMessages.
	maxQueue = 1 << 20
	// appName is the syslog APP-NAME.
	appName = "auditlkm"
)

// SyslogConfig configures a Syslog output.
type SyslogConfig struct {
	// Address is where to send: "unixgram:///dev/log", "unix:///path"
	// (stream, one message per line), "tcp://host:port" (octet-counting
	// framing, RFC 6587), or an absolute path (a datagram socket, else a
	// stream one).
	Address string
	// Facility is a syslog facility name: kern, user, mail, daemon, auth,
	// syslog, lpr, news, uucp, cron, authpriv, ftp, local0 ... local7.
	Facility string
	// Hostname is the HOSTNAME field; empty: os.Hostname.
	Hostname string
	// Name labels the output in metrics and logs; empty: "syslog".
	Name string

	QueueMessages   int // lines waiting to be sent; more are dropped
	MaxMessageBytes int // a longer message has its MSG cut (counted)
	DialTimeout     time.Duration
	WriteTimeout    time.Duration
	MinBackoff      time.Duration // first wait after a failed connection
	MaxBackoff      time.Duration // the wait doubles up to this
	DrainTimeout    time.Duration // how long Close keeps sending
}

// DefaultSyslogConfig sends to /dev/log with facility local0.
func DefaultSyslogConfig() SyslogConfig {
	return SyslogConfig{
		Address: "/dev/log", Facility: "local0", Name: "syslog",
		QueueMessages: DefaultSyslogQueue, MaxMessageBytes: DefaultSyslogMaxMessage,
		DialTimeout: DefaultSyslogDialTimeout, WriteTimeout: DefaultSyslogWriteTimeout,
		MinBackoff: DefaultSyslogMinBackoff, MaxBackoff: DefaultSyslogMaxBackoff, DrainTimeout: DefaultSyslogDrainTimeout,
	}
}

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Validate checks c.
func (c SyslogConfig) Validate() error {
	if _, _, err := ParseSyslogAddress(c.Address); err != nil {
		return err
	}
	if _, ok := facilities[c.Facility]; !ok {
		return fmt.Errorf("%w: syslog facility %q: want kern, user, daemon, auth, authpriv, syslog, local0 ... local7 or another RFC 5424 name", ErrInvalidConfig, c.Facility)
	}
	switch {
	case c.QueueMessages < 1 || c.QueueMessages > maxQueue:
		return fmt.Errorf("%w: syslog queue %d not in [1, %d]", ErrInvalidConfig, c.QueueMessages, maxQueue)
	case c.MaxMessageBytes < 480:
		return fmt.Errorf("%w: syslog maximum message size %d below the 480 bytes RFC 5424 requires", ErrInvalidConfig, c.MaxMessageBytes)
	case c.DialTimeout <= 0 || c.WriteTimeout <= 0 || c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff || c.DrainTimeout < 0:
		return fmt.Errorf("%w: syslog timeouts must be positive and the maximum backoff at least the minimum", ErrInvalidConfig)
	}
	return nil
}

// Networks of ParseSyslogAddress.
const (
	netTCP      = "tcp"
	netUnix     = "unix"
	netUnixgram = "unixgram"
	netLocal    = "local" // a path: unixgram, else unix
)

// ParseSyslogAddress splits a syslog address into network and address.
func ParseSyslogAddress(s string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(s, "tcp://"):
		addr = strings.TrimPrefix(s, "tcp://")
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("%w: syslog address %q: %w", ErrInvalidConfig, s, err)
		}
		return netTCP, addr, nil
	case strings.HasPrefix(s, "unixgram://"):
		network, addr = netUnixgram, strings.TrimPrefix(s, "unixgram://")
	case strings.HasPrefix(s, "unix://"):
		network, addr = netUnix, strings.TrimPrefix(s, "unix://")
	case strings.HasPrefix(s, "/"):
		network, addr = netLocal, s
	default:
		return "", "", fmt.Errorf("%w: syslog address %q: want tcp://HOST:PORT, unix:///PATH, unixgram:///PATH or /PATH", ErrInvalidConfig, s)
	}
	if !strings.HasPrefix(addr, "/") {
		return "", "", fmt.Errorf("%w: syslog address %q: the socket path must be absolute", ErrInvalidConfig, s)
	}
	return network, addr, nil
}

// Syslog sends lines as RFC 5424 messages. It is safe for concurrent use.
// Write formats and queues; one goroutine sends, reconnecting with a
// bounded backoff.
type Syslog struct {
	cfg           SyslogConfig
	network, addr string
	pri           int // facility * 8
	hostname, pid string
	m             *Metrics
	log           *slog.Logger
	mu            sync.Mutex // guards queue sends against Close
	closed        bool
	queue         chan []byte
	closing       chan struct{}
	done          chan struct{}
	drainUntil    time.Time // set before closing is closed
	conn          net.Conn  // sender goroutine only
	stream        bool      // conn is a stream socket
	readBuf       [1]byte
	backoff       time.Duration
}

// NewSyslog validates cfg and starts the sender. Nothing is dialled until
// the first message; a server that is down is retried, not an error. The
// caller must Close it.
func NewSyslog(cfg SyslogConfig, m *Metrics, log *slog.Logger) (*Syslog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new syslog output: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name = "syslog"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	network, addr, _ := ParseSyslogAddress(cfg.Address)
	host := cfg.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	s := &Syslog{
		cfg: cfg, network: network, addr: addr, pri: facilities[cfg.Facility] * 8,
		hostname: headerField(host, 255), pid: strconv.Itoa(os.Getpid()), m: m, log: log,
		queue: make(chan []byte, cfg.QueueMessages), closing: make(chan struct{}), done: make(chan struct{}),
		backoff: cfg.MinBackoff,
	}
	m.init(cfg.Name)
	go s.run()
	return s, nil
}

// Write formats m and queues it. A full queue drops the line and returns
// ErrDropped.
func (s *Syslog) Write(m Message) error {
	msg := s.format(nil, m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("syslog %s: %w", s.cfg.Address, ErrClosed)
	}
	select {
	case s.queue <- msg:
		return nil
	default:
		return fmt.Errorf("syslog %s: queue of %d full: %w", s.cfg.Address, cap(s.queue), ErrDropped)
	}
}

// Close stops accepting lines, sends what is queued for at most
// DrainTimeout (the rest is dropped and counted) and closes the
// connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.drainUntil = time.Now().Add(s.cfg.DrainTimeout)
	close(s.closing)
	close(s.queue)
	s.mu.Unlock()
	<-s.done
	return nil
}

func (s *Syslog) run() {
	defer close(s.done)
	for msg := range s.queue {
		s.send(msg)
	}
	s.disconnect()
}

// send delivers one message or drops it, counting either.
func (s *Syslog) send(msg []byte) {
	for attempt := 0; attempt < maxSendAttempts; {
		if s.draining() && time.Now().After(s.drainUntil) {
			break
		}
		if s.conn == nil {
			if err := s.connect(); err != nil {
				s.log.Warn("syslog connect", "address", s.cfg.Address, "err", err, "retry_in", s.backoff)
				if !s.wait() {
					break
				}
				continue
			}
		}
		if err := s.write(msg); err != nil {
			s.log.Warn("syslog write", "address", s.cfg.Address, "err", err)
			s.disconnect()
			attempt++
			continue
		}
		s.m.inc(written, s.cfg.Name)
		return
	}
	s.m.inc(dropped, s.cfg.Name)
	s.m.inc(errs, s.cfg.Name)
}

func (s *Syslog) draining() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// wait sleeps the current backoff (doubling it), cut short at the drain
// deadline; it reports false when the deadline has passed.
func (s *Syslog) wait() bool {
	d := s.backoff
	s.backoff = min(2*s.backoff, s.cfg.MaxBackoff)
	if s.draining() {
		left := time.Until(s.drainUntil)
		if left <= 0 {
			return false
		}
		time.Sleep(min(d, left))
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.closing:
	}
	return true
}

func (s *Syslog) connect() error {
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	network := s.network
	if network == netLocal {
		network = netUnixgram
	}
	c, err := d.Dial(network, s.addr)
	if err != nil && s.network == netLocal && errors.Is(err, syscall.EPROTOTYPE) {
		network = netUnix
		c, err = d.Dial(network, s.addr)
	}
	if err != nil {
		return err
	}
	s.conn, s.stream = c, network != netUnixgram
	s.backoff = s.cfg.MinBackoff
	s.m.inc(reconnects, s.cfg.Name)
	return nil
}

func (s *Syslog) disconnect() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// write sends msg with the framing of the connection.
func (s *Syslog) write(msg []byte) error {
	if s.stream && s.peerClosed() {
		return errors.New("connection closed by the server")
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
		return err
	}
	var frame []byte
	switch {
	case !s.stream:
		frame = msg
	case s.network == netTCP:
		// RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG.
		frame = append(strconv.AppendInt(make([]byte, 0, len(msg)+8), int64(len(msg)), 10), ' ')
		frame = append(frame, msg...)
	default:
		frame = append(msg, '\n') // local stream sockets: one message per line
	}
	n, err := s.conn.Write(frame)
	if err == nil && n != len(frame) {
		err = io.ErrShortWrite
	}
	return err
}

// peerClosed reports whether the server has closed the stream (a syslog
// server never sends, so anything readable means EOF or an error). It
// keeps a message from vanishing into a connection the server already
// left (the kernel would accept the write). It peeks without blocking.
func (s *Syslog) peerClosed() bool {
	sc, ok := s.conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), s.readBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = rerr == nil && n == 0 || rerr != nil && rerr != syscall.EAGAIN && rerr != syscall.EINTR || n > 0
		return true // never wait for readability
	})
	return err != nil || closed
}

// format renders m as an RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME auditlkm PROCID MSGID - MSG
//
// with MSG the line as is (no BOM: MSG-ANY), cut to MaxMessageBytes.
func (s *Syslog) format(dst []byte, m Message) []byte {
	sev := min(max(int(m.Severity), 0), 7)
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(s.pri+sev), 10)
	dst = append(dst, ">1 "...)
	t := m.Time
	if t.IsZero() {
		t = time.Now()
	}
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, ' ')
	dst = append(dst, s.hostname...)
	dst = append(dst, ' ')
	dst = append(dst, appName...)
	dst = append(dst, ' ')
	dst = append(dst, s.pid...)
	dst = append(dst, ' ')
	dst = append(dst, headerField(m.MsgID, 32)...)
	dst = append(dst, " - "...)
	line := m.Line
	if room := s.cfg.MaxMessageBytes - len(dst); len(line) > room {
		line = line[:max(room, 0)]
		s.m.inc(truncated, s.cfg.Name)
	}
	return append(dst, line...)
}

// headerField makes s a valid RFC 5424 header field: printable US-ASCII
// without spaces, at most n bytes, "-" when empty.
func headerField(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}
