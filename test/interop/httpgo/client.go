package main

// The client: --count requests (--concurrency at a time) on one
// http.Transport, so over TLS with ALPN h2 they share one HTTP/2 connection.
// Prints one JSON summary line; exit 0 when every request got a response
// (whatever its status) and, with --expect-status, that status.

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"sync"
	"time"
)

// patternReader yields n pattern bytes.
type patternReader struct{ off, n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	fillPattern(b, p.off)
	p.off += int64(len(b))
	return len(b), nil
}

type summary struct {
	OK         bool              `json:"ok"`
	Count      int               `json:"count"`
	Statuses   map[string]int    `json:"statuses"`
	Protos     map[string]int    `json:"protos"`
	Errors     map[string]int    `json:"errors"`
	Conns      int               `json:"conns"`
	ReqSHA256  string            `json:"request_sha256"`
	Body       string            `json:"body"`     // the first response's body (first 4 KiB)
	RespBytes  int64             `json:"resp_bytes"`
	RespSHA256 string            `json:"resp_sha256"` // of the first response's body
	Trailers   map[string]string `json:"trailers"`    // of the first response
	Headers    map[string]string `json:"headers"`     // of the first response
	ServerID   string            `json:"peer_spiffe"`
	ElapsedS   float64           `json:"elapsed_s"`
}

func clientMain(args []string) int {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	url := fs.String("url", "", "URL to request (https: TLS with ALPN h2, http/1.1)")
	ca := fs.String("ca", "", "CA bundle verifying the server's chain (names are not checked: SPIFFE)")
	cert := fs.String("cert", "", "client certificate (PEM)")
	key := fs.String("key", "", "client key (PEM)")
	method := fs.String("method", "GET", "request method")
	bodySize := fs.Int64("body-size", -1, "send this many pattern bytes as the body (-1: none)")
	count := fs.Int("count", 1, "requests")
	conc := fs.Int("concurrency", 1, "requests in flight at once")
	header := fs.String("header", "", "extra request headers, k:v,k:v")
	expect := fs.Int("expect-status", 0, "status every response must have")
	timeout := fs.Duration("timeout", 30*time.Second, "per request")
	h1 := fs.Bool("http1", false, "offer only http/1.1 over TLS")
	fs.Parse(args)
	if *url == "" {
		usageExit("client: --url is required")
	}

	tcfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	if *ca != "" {
		pool, err := loadPool(*ca)
		if err != nil {
			usageExit("%v", err)
		}
		tcfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
			return err
		}
	}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			usageExit("%v", err)
		}
		tcfg.Certificates = []tls.Certificate{pair}
	}
	tr := &http.Transport{TLSClientConfig: tcfg, ForceAttemptHTTP2: !*h1, MaxIdleConnsPerHost: *conc,
		DisableCompression: true}
	if *h1 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	client := &http.Client{Transport: tr, Timeout: *timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var reqSum string
	if *bodySize >= 0 {
		h := sha256.New()
		io.Copy(h, &patternReader{n: *bodySize})
		reqSum = hex.EncodeToString(h.Sum(nil))
	}
	s := summary{OK: true, Statuses: map[string]int{}, Protos: map[string]int{}, Errors: map[string]int{},
		ReqSHA256: reqSum}
	var mu sync.Mutex
	conns := map[string]bool{}
	first := true
	started := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				var body io.Reader
				if *bodySize >= 0 {
					body = &patternReader{n: *bodySize}
				}
				req, err := http.NewRequest(*method, *url, body)
				if err != nil {
					usageExit("%v", err)
				}
				if *bodySize >= 0 {
					req.ContentLength = *bodySize
				}
				for _, kv := range strings.Split(*header, ",") {
					if k, v, ok := strings.Cut(kv, ":"); ok {
						req.Header.Set(k, v)
					}
				}
				trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
					mu.Lock()
					conns[ci.Conn.LocalAddr().String()] = true
					mu.Unlock()
				}}
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					s.OK = false
					s.Errors[err.Error()]++
					mu.Unlock()
					continue
				}
				h := sha256.New()
				var head []byte
				n, err := io.Copy(io.MultiWriter(h, &capWriter{b: &head, cap: 4096}), resp.Body)
				resp.Body.Close()
				mu.Lock()
				s.Count++
				s.Statuses[fmt.Sprint(resp.StatusCode)]++
				s.Protos[resp.Proto]++
				if err != nil {
					s.OK = false
					s.Errors["body: "+err.Error()]++
				}
				if *expect != 0 && resp.StatusCode != *expect {
					s.OK = false
				}
				if first {
					first = false
					s.Body, s.RespBytes, s.RespSHA256 = string(head), n, hex.EncodeToString(h.Sum(nil))
					s.Trailers, s.Headers = flat(resp.Trailer), flat(resp.Header)
					s.ServerID = peerID(resp.TLS)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < *count; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	keys := make([]string, 0, len(conns))
	for k := range conns {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.Conns = len(keys)
	s.ElapsedS = time.Since(started).Seconds()
	emit(s)
	if !s.OK {
		return 1
	}
	return 0
}

type capWriter struct {
	b   *[]byte
	cap int
}

func (c *capWriter) Write(p []byte) (int, error) {
	if room := c.cap - len(*c.b); room > 0 {
		if room > len(p) {
			room = len(p)
		}
		*c.b = append(*c.b, p[:room]...)
	}
	return len(p), nil
}
