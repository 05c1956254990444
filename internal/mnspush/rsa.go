package mnspush

import (
	"crypto"
	"crypto/rsa"
	"crypto/subtle"
	"fmt"
	"math/big"
)

// sha1DigestInfo is the DER prefix of a PKCS#1 v1.5 DigestInfo for SHA-1 (RFC 8017, 9.2).
var sha1DigestInfo = []byte{0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14}

// verifyPKCS1v15SHA1 checks an RSASSA-PKCS1-v1_5 SHA-1 signature.
//
// MNS signs pushes with a 512-bit RSA key (its certificate at mnstest.oss-cn-hangzhou has a
// 512-bit modulus), and since Go 1.24 crypto/rsa refuses keys under 1024 bits unless the whole
// process runs with GODEBUG=rsa1024min=0, which would also weaken TLS and everything else.
// So keys of at least 1024 bits go to crypto/rsa, and smaller ones (down to minBits) are
// checked here by the encode-and-compare method of RFC 8017 8.2.2: build the one valid
// encoding and compare it with the decrypted signature in constant time, which leaves no
// parsing for a forged padding to exploit. Only public values are involved.
func verifyPKCS1v15SHA1(pub *rsa.PublicKey, hashed, sig []byte, minBits int) error {
	bits := pub.N.BitLen()
	if bits < minBits {
		return fmt.Errorf("%w: RSA key of %d bits, minimum %d", ErrCertRejected, bits, minBits)
	}
	if bits >= 1024 {
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA1, hashed, sig); err != nil {
			return ErrBadSignature
		}
		return nil
	}
	return verifySmallKey(pub, hashed, sig)
}

func verifySmallKey(pub *rsa.PublicKey, hashed, sig []byte) error {
	if pub.E < 3 || pub.E%2 == 0 || len(hashed) != 20 {
		return ErrBadSignature
	}
	k := (pub.N.BitLen() + 7) / 8
	tLen := len(sha1DigestInfo) + len(hashed)
	if len(sig) != k || k < tLen+11 {
		return ErrBadSignature
	}
	s := new(big.Int).SetBytes(sig)
	if s.Cmp(pub.N) >= 0 {
		return ErrBadSignature
	}
	m := new(big.Int).Exp(s, big.NewInt(int64(pub.E)), pub.N)
	em := m.FillBytes(make([]byte, k))

	want := make([]byte, k)
	want[1] = 0x01
	for i := 2; i < k-tLen-1; i++ {
		want[i] = 0xff
	}
	copy(want[k-tLen:], sha1DigestInfo)
	copy(want[k-len(hashed):], hashed)
	if subtle.ConstantTimeCompare(em, want) != 1 {
		return ErrBadSignature
	}
	return nil
}
