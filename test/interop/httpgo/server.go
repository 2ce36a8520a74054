package main

// The server: plain HTTP/1.1, or TLS with ALPN h2 and http/1.1 (HTTP/2 when
// the client offers it). Client certificates are verified against --ca when
// one is sent (SPIFFE ids are URIs: x509 verification of the chain only).
//
//	/sha256        reads the body; answers JSON: proto, byte count, SHA-256,
//	               request headers and trailers, the client's SPIFFE id
//	/bytes?n=N     answers N pattern bytes; &trailers=1 adds the trailer
//	               x-checksum (SHA-256 hex) after them
//	/status/N      answers status N
//	anything else  answers JSON as /sha256 does

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

type report struct {
	Name     string            `json:"name"`
	Proto    string            `json:"proto"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Host     string            `json:"host"`
	N        int64             `json:"n"`
	SHA256   string            `json:"sha256"`
	Headers  map[string]string `json:"headers"`
	Trailers map[string]string `json:"trailers"`
	Peer     string            `json:"peer_spiffe"`
	TLS      bool              `json:"tls"`
}

func flat(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[strings.ToLower(k)] = strings.Join(v, ",")
	}
	return out
}

func handler(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		trailers := r.URL.Query().Get("trailers") == "1"
		if trailers {
			w.Header().Set("Trailer", "X-Checksum")
		} else {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Served-By", name)
		w.WriteHeader(200)
		h := sha256.New()
		buf := make([]byte, 1<<16)
		for off := int64(0); off < n; {
			chunk := buf
			if n-off < int64(len(chunk)) {
				chunk = chunk[:n-off]
			}
			fillPattern(chunk, off)
			h.Write(chunk)
			if _, err := w.Write(chunk); err != nil {
				return
			}
			off += int64(len(chunk))
		}
		if trailers {
			w.Header().Set("X-Checksum", hex.EncodeToString(h.Sum(nil)))
		}
	})
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		if err != nil || code < 200 || code > 599 {
			code = 400
		}
		w.Header().Set("X-Served-By", name)
		w.WriteHeader(code)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		rep := report{Name: name, Proto: r.Proto, Method: r.Method, Path: r.URL.RequestURI(),
			Host: r.Host, N: n, SHA256: hex.EncodeToString(h.Sum(nil)),
			Headers: flat(r.Header), Trailers: flat(r.Trailer), Peer: peerID(r.TLS), TLS: r.TLS != nil}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Served-By", name)
		b, _ := jsonBytes(rep)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	return mux
}

func serverMain(args []string) int {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	cert := fs.String("cert", "", "certificate (PEM): serve TLS with ALPN h2, http/1.1")
	key := fs.String("key", "", "private key (PEM)")
	ca := fs.String("ca", "", "CA bundle verifying client certificates (when sent)")
	name := fs.String("name", "go", "name reported in X-Served-By and JSON")
	fs.Parse(args)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		emit(map[string]interface{}{"event": "listening", "ok": false, "error": err.Error()})
		return 1
	}
	srv := &http.Server{Handler: handler(*name)}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			usageExit("%v", err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"},
			MinVersion: tls.VersionTLS12}
		if *ca != "" {
			pool, err := loadPool(*ca)
			if err != nil {
				usageExit("%v", err)
			}
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
		srv.TLSConfig = cfg
		emit(map[string]interface{}{"event": "listening", "ok": true, "addr": ln.Addr().String(), "tls": true})
		err = srv.ServeTLS(ln, "", "")
		emit(map[string]interface{}{"event": "stopped", "error": err.Error()})
		return 1
	}
	emit(map[string]interface{}{"event": "listening", "ok": true, "addr": ln.Addr().String(), "tls": false})
	err = srv.Serve(ln)
	emit(map[string]interface{}{"event": "stopped", "error": err.Error()})
	return 1
}
