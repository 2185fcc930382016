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
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
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
	drainUntil    time.Time     // set before closing is closed
	lost          atomic.Uint64 // lines dropped, counted once each
	// The sender goroutine's own:
	conn         net.Conn // nil while disconnected
	stream       bool     // conn is a stream socket
	sent         int64    // bytes written on conn
	pending      []*inflight
	retry        []*inflight // to send again on a new connection
	shutdownLost int         // lines dropped while draining
	backoff      time.Duration
}

// bind is for NewFanout: a Syslog counts under its SyslogConfig.Name.
func (s *Syslog) bind(string, *Metrics) {}

// Lost returns how many lines were dropped: queue full, not taken by the
// server after maxSendAttempts connections, or left at the drain deadline.
func (s *Syslog) Lost() uint64 { return s.lost.Load() }

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
		s.lost.Add(1)
		s.m.inc(lostV, s.cfg.Name)
		return fmt.Errorf("syslog %s: %w", s.cfg.Address, ErrClosed)
	}
	select {
	case s.queue <- msg:
		return nil
	default:
		s.lost.Add(1)
		s.m.inc(dropped, s.cfg.Name)
		s.m.inc(errs, s.cfg.Name)
		s.m.inc(lostV, s.cfg.Name)
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

// inflight is a message on its way: sent on the current connection up to
// the byte end, waiting for the peer to take it.
type inflight struct {
	msg   []byte
	end   int64     // the connection's byte count after the message
	tries int       // connections it was written to
	acked time.Time // when the peer was first seen to have taken it
}

// settleEvery is how often the sender asks the kernel what the peer took
// while messages wait for it.
const settleEvery = 20 * time.Millisecond

// confirmAfter is how long a connection must stay open after the peer took
// a message for it to count as written: a server that accepts and closes
// at once has its kernel acknowledge what arrived first, then discards it.
const confirmAfter = 250 * time.Millisecond

func (s *Syslog) run() {
	defer close(s.done)
	t := time.NewTicker(settleEvery)
	defer t.Stop()
	for {
		if len(s.retry) > 0 {
			m := s.retry[0]
			s.retry = s.retry[1:]
			s.send(m)
			continue
		}
		if len(s.pending) >= cap(s.queue) {
			// The peer takes nothing: wait for it rather than pile up.
			<-t.C
			s.settle()
			if s.draining() && time.Now().After(s.drainUntil) {
				s.finish()
				return
			}
			continue
		}
		select {
		case msg, ok := <-s.queue:
			if !ok {
				s.finish()
				return
			}
			s.send(&inflight{msg: msg})
		case <-t.C:
			s.settle()
		}
	}
}

// finish (the queue is closed and empty) waits until the peer took what
// was sent, up to the drain deadline; what it did not take, and what could
// not be sent in time, is dropped, counted and logged.
func (s *Syslog) finish() {
	for msg := range s.queue { // closed: what Close left
		s.send(&inflight{msg: msg})
	}
	for {
		for len(s.retry) > 0 {
			m := s.retry[0]
			s.retry = s.retry[1:]
			s.send(m)
		}
		s.settle()
		if len(s.pending) == 0 && len(s.retry) == 0 || time.Now().After(s.drainUntil) {
			break
		}
		time.Sleep(settleEvery / 4)
	}
	s.drop(len(s.pending) + len(s.retry))
	s.pending, s.retry = nil, nil
	s.disconnect()
	if n := s.shutdownLost; n > 0 {
		s.log.Error("syslog: lines dropped at shutdown (not taken by the server within the drain timeout)", "address", s.cfg.Address, "dropped", n, "drain_timeout", s.cfg.DrainTimeout)
	}
}

// drop counts n lines as lost.
func (s *Syslog) drop(n int) {
	if n <= 0 {
		return
	}
	s.lost.Add(uint64(n))
	if s.draining() {
		s.shutdownLost += n
	}
	s.m.add(dropped, s.cfg.Name, n)
	s.m.add(errs, s.cfg.Name, n)
	s.m.add(lostV, s.cfg.Name, n)
}

// send writes one message on the connection (opening one if needed) or
// drops it after maxSendAttempts connections failed to take it.
func (s *Syslog) send(m *inflight) {
	for {
		if m.tries >= maxSendAttempts || s.draining() && time.Now().After(s.drainUntil) {
			s.drop(1)
			return
		}
		if s.conn == nil {
			if err := s.connect(); err != nil {
				s.log.Warn("syslog connect", "address", s.cfg.Address, "err", err, "retry_in", s.backoff)
				if !s.wait() {
					s.drop(1)
					return
				}
				continue
			}
		}
		m.tries++
		n, err := s.write(m.msg)
		if err != nil {
			s.log.Warn("syslog write", "address", s.cfg.Address, "err", err)
			s.broken()
			continue
		}
		if !s.stream {
			s.m.inc(written, s.cfg.Name) // a datagram is in the server's queue
			return
		}
		s.sent += int64(n)
		m.end = s.sent
		s.pending = append(s.pending, m)
		s.settle()
		return
	}
}

// broken drops the connection; the messages the peer had not taken are
// sent again on the next one.
func (s *Syslog) broken() {
	s.disconnect()
	s.retry = append(s.pending, s.retry...)
	s.pending = nil
}

// settle counts as written the messages the peer has taken: for TCP those
// its kernel acknowledged (tcpi_bytes_acked), for a local stream socket
// those the server read (SIOCOUTQ), and only once the connection was still
// open confirmAfter later: a server that accepts and closes at once has its
// kernel acknowledge what arrived before the close and then discard it. A
// connection the peer closed or reset is broken, and what it had not
// settled is sent again (a server that read it just before closing gets it
// twice). What a server does after that TCP cannot tell.
func (s *Syslog) settle() {
	if len(s.pending) == 0 || s.conn == nil {
		return
	}
	taken, ok := s.taken()
	if !ok {
		s.broken()
		return
	}
	now := time.Now()
	i := 0
	for ; i < len(s.pending) && s.pending[i].end <= taken; i++ {
		m := s.pending[i]
		if m.acked.IsZero() {
			m.acked = now
		}
		if now.Sub(m.acked) < confirmAfter {
			break // taken, but the server may still be closing on it
		}
		s.m.inc(written, s.cfg.Name)
	}
	s.pending = s.pending[i:]
	if len(s.pending) == 0 {
		s.pending = nil // let the backing array go
	}
}

// taken returns how many bytes of the connection the peer has taken, and
// false when the connection is closed or failed.
func (s *Syslog) taken() (int64, bool) {
	var n int64
	ok := true
	cerr := control(s.conn, func(fd uintptr) {
		if peerGone(int(fd)) {
			ok = false
			return
		}
		if s.network == netTCP {
			info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
			if err != nil || info.State != tcpEstablished {
				ok = false
				return
			}
			n = int64(info.Bytes_acked)
			return
		}
		outq, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		// The queue of a closed peer is purged: look again after reading.
		if err != nil || peerGone(int(fd)) {
			ok = false
			return
		}
		n = s.sent - int64(outq)
	})
	return n, ok && cerr == nil
}

// control runs f on the socket of c.
func control(c net.Conn, f func(fd uintptr)) error {
	switch c := c.(type) {
	case *net.TCPConn:
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		return rc.Control(f)
	case *net.UnixConn:
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		return rc.Control(f)
	}
	return fmt.Errorf("syslog: %T is not a socket", c)
}

// tcpEstablished is TCP_ESTABLISHED (include/net/tcp_states.h).
const tcpEstablished = 1

// peerGone reports whether the server closed or reset the connection (a
// syslog server never sends, so anything readable means EOF or an error).
// It peeks without blocking.
func peerGone(fd int) bool {
	var b [1]byte
	n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == nil || err != unix.EAGAIN && err != unix.EINTR || n > 0
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
	if err != nil && s.network == netLocal && errors.Is(err, unix.EPROTOTYPE) {
		network = netUnix
		c, err = d.Dial(network, s.addr)
	}
	if err != nil {
		return err
	}
	s.conn, s.stream, s.sent = c, network != netUnixgram, 0
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

// write sends msg with the framing of the connection and returns the
// bytes of the frame.
func (s *Syslog) write(msg []byte) (int, error) {
	if s.stream {
		if _, ok := s.taken(); !ok {
			return 0, errors.New("connection closed by the server")
		}
	}
	deadline := time.Now().Add(s.cfg.WriteTimeout)
	if s.draining() && s.drainUntil.Before(deadline) {
		deadline = s.drainUntil
	}
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		return 0, err
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
		frame = append(msg[:len(msg):len(msg)], '\n') // local stream sockets: one message per line
	}
	n, err := s.conn.Write(frame)
	if err == nil && n != len(frame) {
		err = io.ErrShortWrite
	}
	return len(frame), err
}

// format renders m as an RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME auditlkm PROCID MSGID - MSG
//
// with MSG the line as is (no BOM: MSG-ANY). A line that would make the
// message longer than MaxMessageBytes is replaced by shrinkJSON's valid,
// marked copy.
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
		// Cutting would leave invalid JSON: send a valid copy without its
		// largest fields, marked (auditlkm.truncated); the other outputs
		// have the whole line.
		line = shrinkJSON(line, room)
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
