// tlspeer: an independent mTLS peer (Go standard library crypto/tls) for
// skiff's interoperability tests and the TLS benchmark's sanity checks.
//
//	tlspeer client --addr HOST:PORT --ca F [--cert F --key F | --no-cert] ...
//	tlspeer server --listen ADDR --cert F --key F --ca F [--echo | --reply STR] ...
//
// Run `tlspeer client --help` / `tlspeer server --help` for the options. Both
// print JSON lines on stdout; see test/interop/README.md.
package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
)

var outMu sync.Mutex

// emit prints v as one JSON line on stdout.
func emit(v interface{}) {
	b, err := jsonLine(v)
	if err != nil {
		b = []byte(fmt.Sprintf("{\"ok\":false,\"error\":%q}\n", err.Error()))
	}
	outMu.Lock()
	os.Stdout.Write(b)
	outMu.Unlock()
}

// jsonLine encodes v as one line, without HTML escaping (replies are shown
// as they came).
func jsonLine(v interface{}) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return buf.Bytes(), err
}

func usageExit(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlspeer: "+format+"\n", args...)
	os.Exit(2)
}

func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS1.0"
	case tls.VersionTLS11:
		return "TLS1.1"
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS13:
		return "TLS1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

func parseVersion(s string) uint16 {
	switch strings.TrimPrefix(strings.ToUpper(s), "TLS") {
	case "":
		return 0
	case "1.2":
		return tls.VersionTLS12
	case "1.3":
		return tls.VersionTLS13
	}
	usageExit("bad TLS version %q (want 1.2 or 1.3)", s)
	return 0
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// unescape turns \n, \r, \t, \\ and \xHH in a command-line string into bytes,
// so requests like "GET / HTTP/1.0\r\n\r\n" can be given without $'...'.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '\\':
			b.WriteByte('\\')
		case 'x':
			var v byte
			if i+2 < len(s) {
				if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &v); err == nil {
					b.WriteByte(v)
					i += 2
					continue
				}
			}
			b.WriteString(`\x`)
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func main() {
	if len(os.Args) < 2 {
		usageExit("usage: tlspeer client|server [options] (--help for each)")
	}
	switch os.Args[1] {
	case "client":
		os.Exit(clientMain(os.Args[2:]))
	case "server":
		os.Exit(serverMain(os.Args[2:]))
	case "-h", "--help", "help":
		fmt.Println("usage: tlspeer client|server [options]; tlspeer client --help, tlspeer server --help")
	default:
		usageExit("unknown command %q (want client or server)", os.Args[1])
	}
}
