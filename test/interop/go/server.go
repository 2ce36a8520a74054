package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// serverEvent is the JSON line the server prints: one "listening" line at
// start, then one "conn" line per connection when it ends.
type serverEvent struct {
	Event      string `json:"event"`
	Addr       string `json:"addr,omitempty"`
	Remote     string `json:"remote,omitempty"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	ErrorKind  string `json:"error_kind,omitempty"`
	TLSVersion string `json:"tls_version,omitempty"`
	ALPN       string `json:"alpn,omitempty"`
	PeerSpiffe string `json:"peer_spiffe,omitempty"`
	Resumed    bool   `json:"resumed,omitempty"`
	Serial     string `json:"serial,omitempty"`
	BytesIn    int64  `json:"bytes_in"`
	BytesOut   int64  `json:"bytes_out"`
}

type countingConn struct {
	net.Conn
	in, out int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in += int64(n)
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out += int64(n)
	return n, err
}

func serverMain(args []string) int {
	fs := flag.NewFlagSet("tlspeer server", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (port 0: any free port, printed in the first line)")
	certF := fs.String("cert", "", "server certificate chain (PEM)")
	keyF := fs.String("key", "", "server private key (PEM)")
	caF := fs.String("ca", "", "trust bundle client chains must verify against (PEM)")
	requireSpiffe := fs.String("require-spiffe", "", "accept only clients whose URI SAN is exactly this SPIFFE id")
	optionalCert := fs.Bool("optional-client-cert", false, "accept clients without a certificate (a sent one is still verified)")
	alpn := fs.String("alpn", "", "ALPN protocols accepted, comma-separated in preference order (a client offering none of them is refused)")
	requireALPN := fs.Bool("require-alpn", false, "refuse clients that negotiate no ALPN protocol")
	minV := fs.String("min-version", "1.2", "lowest TLS version accepted: 1.2 or 1.3")
	maxV := fs.String("max-version", "1.3", "highest TLS version accepted: 1.2 or 1.3")
	noTickets := fs.Bool("no-tickets", false, "issue no session tickets (no resumption)")
	echo := fs.Bool("echo", false, "echo everything back until the client closes")
	reply := fs.String("reply", "", `read one request chunk, send this, close (\r \n \t \\ \xHH understood)`)
	timeout := fs.Duration("timeout", 10*time.Second, "handshake and idle deadline per connection")
	maxConns := fs.Int("max-conns", 0, "exit after this many connections (0: serve until killed)")
	fs.Parse(args)
	if fs.NArg() > 0 {
		usageExit("server: unexpected argument %q", fs.Arg(0))
	}
	if *certF == "" || *keyF == "" || *caF == "" {
		usageExit("server: --cert, --key and --ca are required")
	}
	replySet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "reply" {
			replySet = true
		}
	})
	if *echo == replySet {
		usageExit("server: give exactly one of --echo and --reply STR")
	}
	replyBytes := []byte(unescape(*reply))

	kp, err := tls.LoadX509KeyPair(*certF, *keyF)
	if err != nil {
		usageExit("server: %v", err)
	}
	roots, err := loadPool(*caF)
	if err != nil {
		usageExit("server: %v", err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{kp},
		// The chain and the SPIFFE id are checked in VerifyConnection (also
		// on resumption); see verify.go.
		ClientAuth:             tls.RequireAnyClientCert,
		NextProtos:             splitList(*alpn),
		MinVersion:             parseVersion(*minV),
		MaxVersion:             parseVersion(*maxV),
		SessionTicketsDisabled: *noTickets,
	}
	if *optionalCert {
		cfg.ClientAuth = tls.RequestClientCert
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if *requireALPN && cs.NegotiatedProtocol == "" {
			return verifyFail("client negotiated no ALPN protocol")
		}
		if len(cs.PeerCertificates) == 0 && *optionalCert {
			return nil
		}
		_, err := verifyPeer(cs.PeerCertificates, roots, x509.ExtKeyUsageClientAuth, *requireSpiffe)
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		usageExit("server: %v", err)
	}
	emit(serverEvent{Event: "listening", Addr: ln.Addr().String(), OK: true})

	var served int64
	done := make(chan struct{})
	for {
		raw, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			emit(serverEvent{Event: "error", Error: err.Error()})
			return 1
		}
		n := atomic.AddInt64(&served, 1)
		go func() {
			serveConn(raw, cfg, *echo, replyBytes, *timeout)
			if *maxConns > 0 && atomic.LoadInt64(&served) >= int64(*maxConns) {
				select {
				case <-done:
				default:
					close(done)
				}
			}
		}()
		if *maxConns > 0 && n >= int64(*maxConns) {
			<-done
			return 0
		}
	}
}

func serverClassify(err error) string {
	msg := err.Error()
	switch {
	case isVerifyError(err):
		return "verify"
	case strings.Contains(msg, "didn't provide a certificate"):
		return "no_peer_cert"
	case strings.Contains(msg, "remote error"):
		return "peer_refused"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "plaintext"
	case errors.Is(err, io.EOF) || strings.Contains(msg, "connection reset"):
		return "closed"
	}
	return "handshake"
}

func serveConn(raw net.Conn, cfg *tls.Config, echo bool, reply []byte, timeout time.Duration) {
	cc := &countingConn{Conn: raw}
	ev := serverEvent{Event: "conn", Remote: raw.RemoteAddr().String()}
	defer func() {
		raw.Close()
		ev.BytesIn, ev.BytesOut = cc.in, cc.out
		emit(ev)
	}()
	raw.SetDeadline(time.Now().Add(timeout))
	tc := tls.Server(cc, cfg)
	if err := tc.Handshake(); err != nil {
		ev.Error = err.Error()
		ev.ErrorKind = serverClassify(err)
		return
	}
	cs := tc.ConnectionState()
	ev.TLSVersion = versionName(cs.Version)
	ev.ALPN = cs.NegotiatedProtocol
	ev.Resumed = cs.DidResume
	if len(cs.PeerCertificates) > 0 {
		leaf := cs.PeerCertificates[0]
		ev.Serial = fmt.Sprintf("%x", leaf.SerialNumber)
		ev.PeerSpiffe, _ = spiffeID(leaf)
	}
	// Byte counts below are of TLS records on the wire; the payload is
	// what the client sent.
	var err error
	if echo {
		buf := make([]byte, 16384)
		for {
			raw.SetDeadline(time.Now().Add(timeout))
			n, rerr := tc.Read(buf)
			if n > 0 {
				if _, werr := tc.Write(buf[:n]); werr != nil {
					err = werr
					break
				}
			}
			if rerr != nil {
				if rerr != io.EOF {
					err = rerr
				}
				break
			}
		}
	} else {
		buf := make([]byte, 65536)
		_, rerr := tc.Read(buf)
		if rerr != nil && rerr != io.EOF {
			err = rerr
		} else if _, werr := tc.Write(reply); werr != nil {
			err = werr
		}
	}
	if err == nil {
		err = tc.Close() // close_notify
		if err != nil && strings.Contains(err.Error(), "use of closed") {
			err = nil
		}
	}
	if err != nil {
		ev.Error = err.Error()
		ev.ErrorKind = serverClassify(err)
		if ev.ErrorKind == "handshake" {
			ev.ErrorKind = "io"
		}
		return
	}
	ev.OK = true
}
