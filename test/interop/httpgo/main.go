// httppeer: an independent HTTP/1.1 and HTTP/2 peer (Go standard library
// net/http and its bundled HTTP/2) for skiff's L7 interoperability tests.
//
//	httppeer server --listen ADDR [--cert F --key F [--ca F]] [--name N]
//	httppeer client --url URL [--ca F [--cert F --key F]] [--method M]
//	                [--body-size N] [--count N] [--concurrency N]
//
// Go 1.19's standard library speaks HTTP/2 only over TLS (ALPN h2), so both
// sides use TLS for HTTP/2 and plain TCP for HTTP/1.1. Both print JSON lines
// on stdout; see test/interop/README-http.md.
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

var outMu sync.Mutex

// emit prints v as one JSON line on stdout.
func emit(v interface{}) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		fmt.Fprintf(&buf, "{\"ok\":false,\"error\":%q}\n", err.Error())
	}
	outMu.Lock()
	os.Stdout.Write(buf.Bytes())
	outMu.Unlock()
}

func usageExit(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "httppeer: "+format+"\n", args...)
	os.Exit(2)
}

// patternBlock is the repeating unit of the tests' deterministic bodies:
// SHA-256("skiff"), as test/integration/lib/peers.py pattern() builds them.
var patternBlock = func() []byte { s := sha256.Sum256([]byte("skiff")); return s[:] }()

// fillPattern writes the pattern bytes at stream offset off into p.
func fillPattern(p []byte, off int64) {
	n := int64(len(patternBlock))
	for i := range p {
		p[i] = patternBlock[(off+int64(i))%n]
	}
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

// peerID is the single URI SAN (SPIFFE id) of the peer's leaf, or "".
func peerID(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.PeerCertificates) == 0 || len(cs.PeerCertificates[0].URIs) != 1 {
		return ""
	}
	return cs.PeerCertificates[0].URIs[0].String()
}

func main() {
	if len(os.Args) < 2 {
		usageExit("usage: httppeer client|server [options]")
	}
	switch os.Args[1] {
	case "client":
		os.Exit(clientMain(os.Args[2:]))
	case "server":
		os.Exit(serverMain(os.Args[2:]))
	default:
		usageExit("unknown command %q (want client or server)", os.Args[1])
	}
}
