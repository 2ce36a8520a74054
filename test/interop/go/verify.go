package main

// Peer verification the SPIFFE way: X.509-SVIDs name a workload by a URI SAN,
// not a DNS name, so crypto/tls's hostname check cannot be used. Both sides
// switch the built-in check off (InsecureSkipVerify on the client,
// RequireAnyClientCert on the server) and verify in VerifyConnection, which
// crypto/tls also calls on resumed handshakes (with the certificates kept in
// the session), so a resumed connection is checked by the same rules.

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// verifyError marks a refusal by this side's own verification, so the JSON
// line can tell it from a refusal by the peer.
type verifyError struct{ msg string }

func (e *verifyError) Error() string { return e.msg }

func verifyFail(format string, args ...interface{}) error {
	return &verifyError{msg: fmt.Sprintf(format, args...)}
}

func isVerifyError(err error) bool {
	var v *verifyError
	return errors.As(err, &v)
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

// spiffeID returns the leaf's single URI SAN. An X.509-SVID has exactly one
// URI SAN, with the spiffe scheme.
func spiffeID(leaf *x509.Certificate) (string, error) {
	if len(leaf.URIs) != 1 {
		return "", fmt.Errorf("leaf has %d URI SANs, want exactly 1", len(leaf.URIs))
	}
	u := leaf.URIs[0]
	if u.Scheme != "spiffe" {
		return "", fmt.Errorf("leaf URI SAN %q is not a spiffe:// id", u.String())
	}
	return u.String(), nil
}

// verifyPeer checks the chain the peer presented against roots for the given
// use (server or client auth), that the leaf is an X.509-SVID, and, when
// want is not empty, that its id is exactly want (compared as bytes).
// It returns the peer's id.
func verifyPeer(chain []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage,
	want string) (string, error) {
	if len(chain) == 0 {
		return "", verifyFail("peer sent no certificate")
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   time.Now(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return "", verifyFail("chain: %v", err)
	}
	if leaf.IsCA {
		return "", verifyFail("leaf is a CA certificate")
	}
	id, err := spiffeID(leaf)
	if err != nil {
		return "", verifyFail("svid: %v", err)
	}
	if want != "" && id != want {
		return id, verifyFail("peer id %s, want %s", id, want)
	}
	return id, nil
}
