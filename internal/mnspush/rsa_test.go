package mnspush

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
)

// realMNSCert is the certificate MNS serves at
// https://mnstest.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate.pem (a 512-bit RSA key,
// expired in 2016 and still in use), and realPush* a push it signed in March 2023, both from
// a public test of an MNS endpoint.
const realMNSCert = `-----BEGIN CERTIFICATE-----
MIICiDCCAjKgAwIBAgIJAL+acWZrTrlfMA0GCSqGSIb3DQEBBQUAMGMxCzAJBgNV
BAYTAjg2MREwDwYDVQQIEwhaaGVqaWFuZzERMA8GA1UEBxMISGFuZ3pob3UxDzAN
BgNVBAoTBkFsaXl1bjEMMAoGA1UECxMDTW5zMQ8wDQYDVQQDEwZub3RpZnkwHhcN
MTUwNzAyMDIwNjE2WhcNMTYwNzAxMDIwNjE2WjBjMQswCQYDVQQGEwI4NjERMA8G
A1UECBMIWmhlamlhbmcxETAPBgNVBAcTCEhhbmd6aG91MQ8wDQYDVQQKEwZBbGl5
dW4xDDAKBgNVBAsTA01uczEPMA0GA1UEAxMGbm90aWZ5MFwwDQYJKoZIhvcNAQEB
BQADSwAwSAJBALX0sFVowct1NAQjDyYSUf0rp1rOHLkz4kp0zNWcDyXMXa5PzsPU
UwJXaLwhvNCDLLWuiLK6Oh5elmOmL8Gy/5MCAwEAAaOByDCBxTAdBgNVHQ4EFgQU
kEah2o9HpCUCxhN/fY3kUtPkP4owgZUGA1UdIwSBjTCBioAUkEah2o9HpCUCxhN/
fY3kUtPkP4qhZ6RlMGMxCzAJBgNVBAYTAjg2MREwDwYDVQQIEwhaaGVqaWFuZzER
MA8GA1UEBxMISGFuZ3pob3UxDzANBgNVBAoTBkFsaXl1bjEMMAoGA1UECxMDTW5z
MQ8wDQYDVQQDEwZub3RpZnmCCQC/mnFma065XzAMBgNVHRMEBTADAQH/MA0GCSqG
SIb3DQEBBQUAA0EAluPg+k0Fc7WRcpP78+eLptYD8an7YOapUdNUmT2/SQC5BZ+t
cyWFit5pAEipngFL105d7AuW2AtwqG0FgV0ipw==
-----END CERTIFICATE-----
`

const realPushSignature = "LP3cxoTCbhsiLJi0KQdEiRaufaxMfWUdLH064yoVoKl8xNcY+299itGmGsirVMY8vDpuZ1VwS0Uw7R5dNduSXg=="

const realPushStringToSign = "POST\n4CCBAD7AF2D23C2D00DDECCA59323A8C\ntext/plain;charset=utf-8\nWed, 29 Mar 2023 08:41:27 GMT\n" +
	"x-mns-message-id:250EB49D5F8D737A391C93C6ED165396\nx-mns-publish-time:1680079287576\n" +
	"x-mns-request-id:6423F9B7BF94313030AF5EA0\n" +
	"x-mns-signing-cert-url:aHR0cHM6Ly9tbnN0ZXN0Lm9zcy1jbi1oYW5nemhvdS5hbGl5dW5jcy5jb20veDUwOV9wdWJsaWNfY2VydGlmaWNhdGUucGVt\n" +
	"x-mns-subscriber:1321669497458181\nx-mns-subscription-name:mns-en-subs-oss-fecdn-internal-pre-1-22849529855680\n" +
	"x-mns-topic-name:mns-en-topics-oss-fecdn-internal-pre-22849529792243\nx-mns-topic-owner:1321669497458181\n" +
	"x-mns-version:2015-06-06\n/notifications"

// realPushRequest rebuilds the request MNS sent, headers in the spellings net/http produces.
func realPushRequest() *Request {
	h := http.Header{}
	h.Set("Authorization", realPushSignature)
	h.Set("Content-Md5", "4CCBAD7AF2D23C2D00DDECCA59323A8C")
	h.Set("Content-Type", "text/plain;charset=utf-8")
	h.Set("Date", "Wed, 29 Mar 2023 08:41:27 GMT")
	h.Set("User-Agent", "Aliyun Notification Service Agent")
	h.Set("X-Mns-Version", "2015-06-06")
	h.Set("X-Mns-Topic-Owner", "1321669497458181")
	h.Set("X-Mns-Topic-Name", "mns-en-topics-oss-fecdn-internal-pre-22849529792243")
	h.Set("X-Mns-Subscription-Name", "mns-en-subs-oss-fecdn-internal-pre-1-22849529855680")
	h.Set("X-Mns-Subscriber", "1321669497458181")
	h.Set("X-Mns-Signing-Cert-Url", "aHR0cHM6Ly9tbnN0ZXN0Lm9zcy1jbi1oYW5nemhvdS5hbGl5dW5jcy5jb20veDUwOV9wdWJsaWNfY2VydGlmaWNhdGUucGVt")
	h.Set("X-Mns-Request-Id", "6423F9B7BF94313030AF5EA0")
	h.Set("X-Mns-Publish-Time", "1680079287576")
	h.Set("X-Mns-Message-Id", "250EB49D5F8D737A391C93C6ED165396")
	return &Request{Method: "POST", Target: "/notifications", Header: h}
}

func TestStringToSignMatchesWhatMNSSigned(t *testing.T) {
	if got := StringToSign(realPushRequest()); got != realPushStringToSign {
		t.Fatalf("string to sign differs from MNS's:\n got %q\nwant %q", got, realPushStringToSign)
	}
}

func TestARealMNSSignatureWithItsHalfKilobitKeyVerifies(t *testing.T) {
	key, err := ParseCertificateKey([]byte(realMNSCert))
	if err != nil {
		t.Fatal(err)
	}
	if key.N.BitLen() != 512 {
		t.Fatalf("the real MNS key has %d bits, this test expects 512", key.N.BitLen())
	}
	sig, _ := base64.StdEncoding.DecodeString(realPushSignature)
	digest := sha1.Sum([]byte(StringToSign(realPushRequest())))

	// crypto/rsa alone refuses it; this is why verifyPKCS1v15SHA1 exists.
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA1, digest[:], sig); err == nil {
		t.Log("crypto/rsa accepted a 512-bit key: GODEBUG rsa1024min=0 must be set in this process")
	}
	if err := verifyPKCS1v15SHA1(key, digest[:], sig, 512); err != nil {
		t.Fatalf("real MNS signature refused: %v", err)
	}

	tampered := sha1.Sum([]byte(StringToSign(realPushRequest()) + "x"))
	if err := verifyPKCS1v15SHA1(key, tampered[:], sig, 512); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered string to sign: got %v, want ErrBadSignature", err)
	}
	if err := verifyPKCS1v15SHA1(key, digest[:], sig, 1024); !errors.Is(err, ErrCertRejected) {
		t.Fatalf("512-bit key with a 1024-bit minimum: got %v, want ErrCertRejected", err)
	}
}

// The small-key path must agree with crypto/rsa wherever both apply: run it on 2048-bit
// signatures, valid and corrupted.
func TestSmallKeyVerificationAgreesWithCryptoRSA(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		digest := sha1.Sum([]byte{byte(i), byte(i >> 8)})
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		corrupt := append([]byte(nil), sig...)
		corrupt[i%len(corrupt)] ^= 1 << (i % 8)
		for _, s := range [][]byte{sig, corrupt, sig[1:], append(append([]byte{}, sig...), 0)} {
			want := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA1, digest[:], s) == nil
			got := verifySmallKey(&key.PublicKey, digest[:], s) == nil
			if got != want {
				t.Fatalf("signature %d (len %d): small-key path says %v, crypto/rsa says %v", i, len(s), got, want)
			}
		}
	}
}

func TestASignatureOverADifferentDigestAlgorithmIsRefused(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha1.Sum([]byte("x"))
	// Raw PKCS#1 v1.5 without the SHA-1 DigestInfo: must not pass as a SHA-1 signature.
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.Hash(0), digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if verifySmallKey(&key.PublicKey, digest[:], sig) == nil {
		t.Fatal("signature without DigestInfo accepted")
	}
}

// BenchmarkVerifyRealMNSSignature measures the 512-bit path MNS's own pushes take.
func BenchmarkVerifyRealMNSSignature(b *testing.B) {
	key, err := ParseCertificateKey([]byte(realMNSCert))
	if err != nil {
		b.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(realPushSignature)
	digest := sha1.Sum([]byte(realPushStringToSign))
	b.ReportAllocs()
	for b.Loop() {
		if err := verifyPKCS1v15SHA1(key, digest[:], sig, 512); err != nil {
			b.Fatal(err)
		}
	}
}
