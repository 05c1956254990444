package mnslocal

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// certPath is where the emulator serves the certificate of its push signing key, without
// authentication, as MNS serves its own at mnstest.oss-cn-hangzhou.aliyuncs.com.
const certPath = "/_mnslocal/cert.pem"

// pushSigner is the emulator's stand-in for MNS's push signing key. Real MNS signs with a
// 512-bit key; Go refuses to generate one, so the emulator uses 2048 bits (receivers that
// verify real pushes accept both).
type pushSigner struct {
	key     *rsa.PrivateKey
	certPEM []byte
}

func newPushSigner() (*pushSigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("mnslocal: generating the push signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "mnslocal push signing", Organization: []string{"mnslocal"}, OrganizationalUnit: []string{"Mns"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("mnslocal: creating the push signing certificate: %w", err)
	}
	return &pushSigner{key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// sign returns the base64 RSA-SHA1 (PKCS#1 v1.5) signature of a push's string to sign, the
// bare value MNS puts into Authorization.
func (p *pushSigner) sign(stringToSign string) string {
	digest := sha1.Sum([]byte(stringToSign))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA1, digest[:])
	if err != nil {
		// Signing a 20-byte digest with a valid 2048-bit key cannot fail.
		panic("mnslocal: signing a push: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// CertURL is the URL of the certificate whose key signs the emulator's pushes,
// "http://127.0.0.1:PORT/_mnslocal/cert.pem": what pushes carry, base64-encoded, in
// x-mns-signing-cert-url, and what a receiver's certificate allow-list must admit.
func (s *Server) CertURL() string { return s.URL() + certPath }

// CertPEM returns the PEM certificate served at CertURL.
func (s *Server) CertPEM() ([]byte, error) {
	p, err := s.topics.signer()
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), p.certPEM...), nil
}

// serveCert answers GET/HEAD CertURL.
func (s *Server) serveCert(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p, err := s.topics.signer()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.topics.certFetches.Add(1)
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Header().Set("Content-Length", strconv.Itoa(len(p.certPEM)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(p.certPEM)
	}
}
