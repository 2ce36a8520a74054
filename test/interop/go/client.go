package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// connResult is the JSON line of one client connection.
type connResult struct {
	OK         bool   `json:"ok"`
	Error      string `json:"error"`
	ErrorKind  string `json:"error_kind,omitempty"`
	TLSVersion string `json:"tls_version"`
	ALPN       string `json:"alpn"`
	PeerSpiffe string `json:"peer_spiffe"`
	Resumed    bool   `json:"resumed"`
	Serial     string `json:"serial"`
	Reply      string `json:"reply"`
	Local      string `json:"local,omitempty"`
}

// summary is the JSON line of --count runs.
type summary struct {
	OK           bool           `json:"ok"`
	OKCount      int            `json:"ok_count"`
	FailCount    int            `json:"fail_count"`
	ResumedCount int            `json:"resumed_count"`
	FullCount    int            `json:"full_count"`
	SerialsSeen  []string       `json:"serials_seen"`
	PeersSeen    []string       `json:"peers_seen"`
	Errors       map[string]int `json:"errors"`
	ElapsedS     float64        `json:"elapsed_s"`
}

type clientOpts struct {
	addr, sni    string
	send, expect string
	expectSet    bool
	halfClose    bool
	plaintext    bool
	timeout      time.Duration
	probe        time.Duration
	cfg          *tls.Config
	serverSpiffe string
	readBytes    int
	dialer       net.Dialer
}

func clientMain(args []string) int {
	fs := flag.NewFlagSet("tlspeer client", flag.ExitOnError)
	addr := fs.String("addr", "", "HOST:PORT to connect to")
	certF := fs.String("cert", "", "client certificate chain (PEM)")
	keyF := fs.String("key", "", "client private key (PEM)")
	caF := fs.String("ca", "", "trust bundle the server's chain must verify against (PEM)")
	noCert := fs.Bool("no-cert", false, "send no client certificate")
	serverSpiffe := fs.String("server-spiffe", "", "require the server's URI SAN to be exactly this SPIFFE id")
	alpn := fs.String("alpn", "", "ALPN protocols to offer, comma-separated (none by default)")
	minV := fs.String("min-version", "1.2", "lowest TLS version offered: 1.2 or 1.3")
	maxV := fs.String("max-version", "1.3", "highest TLS version offered: 1.2 or 1.3")
	sni := fs.String("sni", "", "server name to send (none by default)")
	send := fs.String("send", "", `bytes to send after the handshake (\r \n \t \\ \xHH understood)`)
	expect := fs.String("expect", "", "the reply must equal this; reading stops after its length")
	readBytes := fs.Int("read-bytes", 0, "stop reading after this many bytes (default: --expect's length, else EOF)")
	halfClose := fs.Bool("half-close", false, "after sending, send close_notify (TLS) / FIN (plaintext) and read until EOF")
	timeout := fs.Duration("timeout", 5*time.Second, "deadline for one connection: connect, handshake, send, reply")
	probe := fs.Duration("probe", 300*time.Millisecond, "with nothing to send or expect: how long to wait for a post-handshake refusal")
	count := fs.Int("count", 1, "number of requests (with --new-conn-each: connections)")
	duration := fs.Duration("duration", 0, "with --new-conn-each: run until this much time has passed (overrides --count)")
	newConnEach := fs.Bool("new-conn-each", false, "a fresh TCP+TLS connection per request")
	interval := fs.Duration("interval", 0, "pause between requests")
	noResume := fs.Bool("no-resume", false, "no client session cache: every handshake is a full one")
	logEach := fs.Bool("log-each", false, "with --count: also print each connection's JSON line on stderr")
	plaintext := fs.Bool("plaintext", false, "no TLS at all: TCP connect, send, read (a plaintext client for strict-mode tests)")
	fs.Parse(args)
	if fs.NArg() > 0 {
		usageExit("client: unexpected argument %q", fs.Arg(0))
	}
	if *addr == "" {
		usageExit("client: --addr is required")
	}

	o := &clientOpts{
		addr: *addr, sni: *sni, send: unescape(*send), expect: unescape(*expect),
		halfClose: *halfClose, plaintext: *plaintext, timeout: *timeout, probe: *probe,
		serverSpiffe: *serverSpiffe, readBytes: *readBytes,
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "expect" {
			o.expectSet = true
		}
	})
	if o.readBytes == 0 && o.expectSet {
		o.readBytes = len(o.expect)
	}

	if !o.plaintext {
		if *caF == "" {
			usageExit("client: --ca is required (or --plaintext)")
		}
		roots, err := loadPool(*caF)
		if err != nil {
			usageExit("client: %v", err)
		}
		cfg := &tls.Config{
			// The chain and the SPIFFE id are checked in VerifyConnection:
			// ids are URIs, not host names. See verify.go.
			InsecureSkipVerify: true,
			ServerName:         *sni,
			NextProtos:         splitList(*alpn),
			MinVersion:         parseVersion(*minV),
			MaxVersion:         parseVersion(*maxV),
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := verifyPeer(cs.PeerCertificates, roots, x509.ExtKeyUsageServerAuth, o.serverSpiffe)
			return err
		}
		if !*noCert {
			if *certF == "" || *keyF == "" {
				usageExit("client: --cert and --key are required (or --no-cert)")
			}
			kp, err := tls.LoadX509KeyPair(*certF, *keyF)
			if err != nil {
				usageExit("client: %v", err)
			}
			cfg.Certificates = []tls.Certificate{kp}
		}
		if !*noResume {
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		}
		o.cfg = cfg
	}

	if *count <= 1 && *duration == 0 {
		r := o.oneConn()
		emit(r)
		if r.OK {
			return 0
		}
		return 1
	}
	if !*newConnEach {
		return o.manyOnOne(*count, *interval)
	}
	return o.manyConns(*count, *duration, *interval, *logEach)
}

// classify names the kind of a failure for scripts.
func classify(err error, stage string) string {
	var ne net.Error
	switch {
	case isVerifyError(err):
		return "verify"
	case strings.Contains(err.Error(), "remote error"):
		return "peer_refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "connection reset"):
		return "closed"
	}
	return stage
}

func (o *clientOpts) fail(r *connResult, err error, stage string) *connResult {
	r.OK = false
	r.Error = err.Error()
	r.ErrorKind = classify(err, stage)
	return r
}

func fillState(r *connResult, cs tls.ConnectionState) {
	r.TLSVersion = versionName(cs.Version)
	r.ALPN = cs.NegotiatedProtocol
	r.Resumed = cs.DidResume
	if len(cs.PeerCertificates) > 0 {
		leaf := cs.PeerCertificates[0]
		r.Serial = fmt.Sprintf("%x", leaf.SerialNumber)
		if id, err := spiffeID(leaf); err == nil {
			r.PeerSpiffe = id
		}
	}
}

// readReply reads until EOF, or until want bytes (want > 0) have come.
func readReply(c net.Conn, want int) ([]byte, error) {
	var buf bytes.Buffer
	tmp := make([]byte, 16384)
	for want <= 0 || buf.Len() < want {
		n, err := c.Read(tmp)
		buf.Write(tmp[:n])
		if err != nil {
			if err == io.EOF || (errors.Is(err, io.ErrUnexpectedEOF) && buf.Len() > 0) {
				if want > 0 && buf.Len() < want {
					return buf.Bytes(), fmt.Errorf("EOF after %d of %d reply bytes", buf.Len(), want)
				}
				return buf.Bytes(), nil
			}
			return buf.Bytes(), err
		}
	}
	return buf.Bytes(), nil
}

// oneConn runs one connection: connect, handshake, send, read the reply.
func (o *clientOpts) oneConn() *connResult {
	r := &connResult{}
	deadline := time.Now().Add(o.timeout)
	o.dialer.Deadline = deadline
	raw, err := o.dialer.Dial("tcp", o.addr)
	if err != nil {
		return o.fail(r, err, "connect")
	}
	defer raw.Close()
	raw.SetDeadline(deadline)
	r.Local = raw.LocalAddr().String()

	var c net.Conn = raw
	var tc *tls.Conn
	if !o.plaintext {
		tc = tls.Client(raw, o.cfg)
		c = tc
		if err := tc.Handshake(); err != nil {
			fillState(r, tc.ConnectionState())
			return o.fail(r, err, "handshake")
		}
		fillState(r, tc.ConnectionState())
	}
	return o.exchange(r, c, tc, deadline)
}

// exchange sends the request on an established connection and reads the reply.
func (o *clientOpts) exchange(r *connResult, c net.Conn, tc *tls.Conn, deadline time.Time) *connResult {
	if o.send == "" && !o.expectSet && !o.halfClose {
		// Nothing to say: a TLS 1.3 server refuses a client certificate only
		// after the client's handshake has finished, so wait briefly for
		// that alert (or a close) before calling the connection good.
		c.SetReadDeadline(time.Now().Add(o.probe))
		var one [1]byte
		n, err := c.Read(one[:])
		c.SetReadDeadline(deadline)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			return o.fail(r, err, "io")
		}
		r.Reply = string(one[:n])
		r.OK = true
		o.refresh(r, tc)
		return r
	}
	if o.send != "" {
		if _, err := io.WriteString(c, o.send); err != nil {
			// A TLS 1.3 server refusing our certificate sends its alert and
			// closes; our request, unread there, turns that close into a
			// reset that can fail this write. The alert is usually still
			// readable: report it rather than the reset.
			return o.fail(r, alertAfter(c, err, o.probe), "io")
		}
	}
	if o.halfClose {
		var err error
		if tc != nil {
			err = tc.CloseWrite()
		} else if tcp, ok := c.(*net.TCPConn); ok {
			err = tcp.CloseWrite()
		}
		if err != nil {
			return o.fail(r, err, "io")
		}
	}
	want := o.readBytes
	if o.halfClose && !o.expectSet {
		want = 0
	}
	reply, err := readReply(c, want)
	r.Reply = string(reply)
	o.refresh(r, tc)
	if err != nil {
		return o.fail(r, err, "io")
	}
	if o.send != "" && !o.expectSet && len(reply) == 0 {
		return o.fail(r, errors.New("peer closed without a reply"), "closed")
	}
	if o.expectSet && r.Reply != o.expect {
		return o.fail(r, fmt.Errorf("reply %q, want %q", truncate(r.Reply, 80), truncate(o.expect, 80)), "reply_mismatch")
	}
	r.OK = true
	return r
}

// alertAfter returns the peer's alert if one can still be read after err,
// else err.
func alertAfter(c net.Conn, err error, wait time.Duration) error {
	c.SetReadDeadline(time.Now().Add(wait))
	var one [1]byte
	if _, rerr := c.Read(one[:]); rerr != nil && strings.Contains(rerr.Error(), "remote error") {
		return rerr
	}
	return err
}

// refresh re-reads the state after reading: nothing in it changes in TLS 1.3
// after the handshake, but keep the figures current in case of a refusal.
func (o *clientOpts) refresh(r *connResult, tc *tls.Conn) {
	if tc != nil {
		fillState(r, tc.ConnectionState())
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// manyConns runs sequential fresh connections and prints a summary. Serials
// are collected from full handshakes only: a resumed handshake presents no
// certificate (crypto/tls reports the one kept in the session).
func (o *clientOpts) manyConns(count int, duration, interval time.Duration, logEach bool) int {
	s := summary{SerialsSeen: []string{}, PeersSeen: []string{}, Errors: map[string]int{}}
	seenSerial := map[string]bool{}
	seenPeer := map[string]bool{}
	start := time.Now()
	for i := 0; ; i++ {
		if duration > 0 {
			if time.Since(start) >= duration {
				break
			}
		} else if i >= count {
			break
		}
		if i > 0 && interval > 0 {
			time.Sleep(interval)
		}
		r := o.oneConn()
		if logEach {
			b, _ := jsonLine(r)
			os.Stderr.Write(b)
		}
		if !r.OK {
			s.FailCount++
			if len(s.Errors) < 20 || s.Errors[r.Error] > 0 {
				s.Errors[r.Error]++
			}
			continue
		}
		s.OKCount++
		if r.Resumed {
			s.ResumedCount++
		} else {
			s.FullCount++
			if r.Serial != "" && !seenSerial[r.Serial] {
				seenSerial[r.Serial] = true
				s.SerialsSeen = append(s.SerialsSeen, r.Serial)
			}
		}
		if r.PeerSpiffe != "" && !seenPeer[r.PeerSpiffe] {
			seenPeer[r.PeerSpiffe] = true
			s.PeersSeen = append(s.PeersSeen, r.PeerSpiffe)
		}
	}
	s.ElapsedS = time.Since(start).Seconds()
	s.OK = s.FailCount == 0 && s.OKCount > 0
	emit(s)
	if s.OK {
		return 0
	}
	return 1
}

// manyOnOne sends count requests over one connection; each reply must be
// the --expect string.
func (o *clientOpts) manyOnOne(count int, interval time.Duration) int {
	if !o.expectSet || o.halfClose {
		usageExit("client: --count without --new-conn-each needs --expect (and no --half-close)")
	}
	o.timeout = o.timeout * time.Duration(count)
	s := summary{SerialsSeen: []string{}, PeersSeen: []string{}, Errors: map[string]int{}}
	start := time.Now()
	r := &connResult{}
	deadline := time.Now().Add(o.timeout)
	o.dialer.Deadline = deadline
	raw, err := o.dialer.Dial("tcp", o.addr)
	if err == nil {
		defer raw.Close()
		raw.SetDeadline(deadline)
		var c net.Conn = raw
		var tc *tls.Conn
		if !o.plaintext {
			tc = tls.Client(raw, o.cfg)
			c = tc
			err = tc.Handshake()
			fillState(r, tc.ConnectionState())
		}
		for i := 0; err == nil && i < count; i++ {
			if i > 0 && interval > 0 {
				time.Sleep(interval)
			}
			r = o.exchange(r, c, tc, deadline)
			if !r.OK {
				s.FailCount = count - i
				s.Errors[r.Error]++
				break
			}
			s.OKCount++
		}
	}
	if err != nil {
		s.FailCount = count
		s.Errors[err.Error()]++
	}
	if r.Serial != "" {
		s.SerialsSeen = append(s.SerialsSeen, r.Serial)
		if r.Resumed {
			s.ResumedCount = 1
		} else {
			s.FullCount = 1
		}
	}
	if r.PeerSpiffe != "" {
		s.PeersSeen = append(s.PeersSeen, r.PeerSpiffe)
	}
	s.ElapsedS = time.Since(start).Seconds()
	s.OK = s.FailCount == 0
	emit(s)
	if s.OK {
		return 0
	}
	return 1
}
