// Package mnspushtest signs MNS pushes the way MNS does, for tests of push endpoints: it owns
// a test signing key, its self-signed certificate served over an httptest TLS server (which
// counts the fetches), and encoders for the three notification formats.
package mnspushtest

import (
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
)

// CertPath is where the Signer's server serves its certificate.
const CertPath = "/certs/signing-cert.pem"

// Signer signs push requests with its own key and serves the matching certificate.
type Signer struct {
	// Key signs the requests.
	Key *rsa.PrivateKey
	// CertPEM is the self-signed certificate of Key.
	CertPEM []byte
	// Server serves Mux over TLS.
	Server *httptest.Server
	// Mux serves CertPEM at CertPath; tests may add handlers (redirects, errors ...).
	Mux *http.ServeMux
	// CertURL is the URL of the certificate, what x-mns-signing-cert-url names.
	CertURL string

	fetches atomic.Int64
}

// NewSigner generates a 2048-bit key and a certificate, and starts the certificate server;
// both are cleaned up with t.
func NewSigner(t testing.TB) *Signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("notifytest: generating key: %v", err)
	}
	s := &Signer{Key: key, CertPEM: SelfSignedPEM(t, key), Mux: http.NewServeMux()}
	s.Mux.HandleFunc("GET "+CertPath, func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(s.CertPEM)
	})
	s.Server = httptest.NewTLSServer(s.Mux)
	t.Cleanup(s.Server.Close)
	s.CertURL = s.Server.URL + CertPath
	return s
}

// SelfSignedPEM returns a self-signed certificate for key, PEM-encoded.
func SelfSignedPEM(t testing.TB, key *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "notifytest", Organization: []string{"alicom-drain tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("notifytest: creating certificate: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// Fetches is how many times the certificate was downloaded.
func (s *Signer) Fetches() int64 { return s.fetches.Load() }

// Rule is the allow-list rule that admits the certificate URL.
func (s *Signer) Rule() mnspush.CertURLRule {
	r, err := mnspush.ParseCertURLRule(s.Server.URL + "/certs/")
	if err != nil {
		panic(err) // the server URL always parses
	}
	return r
}

// Config returns a mnspush.Config that allows and can fetch this Signer's certificate.
func (s *Signer) Config() mnspush.Config {
	return mnspush.Config{CertURLAllow: []mnspush.CertURLRule{s.Rule()}, HTTPClient: s.Server.Client()}
}

// Sign completes r the way MNS does before a push: Date (now, unless set), Content-MD5 (upper
// hex MD5 of the body, unless set), x-mns-signing-cert-url (CertURL, unless set), then
// Authorization over the result.
func (s *Signer) Sign(r *mnspush.Request) {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	if r.Header.Get("Date") == "" {
		r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	if r.Header.Get("Content-MD5") == "" {
		sum := md5.Sum(r.Body)
		r.Header.Set("Content-MD5", strings.ToUpper(hex.EncodeToString(sum[:])))
	}
	if r.Header.Get("X-Mns-Signing-Cert-Url") == "" {
		r.Header.Set("X-Mns-Signing-Cert-Url", base64.StdEncoding.EncodeToString([]byte(s.CertURL)))
	}
	r.Header.Set("Authorization", SignString(s.Key, mnspush.StringToSign(r)))
}

// SignString returns the base64 RSA-SHA1 signature of a string to sign.
func SignString(key *rsa.PrivateKey, stringToSign string) string {
	digest := sha1.Sum([]byte(stringToSign))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, digest[:])
	if err != nil {
		panic(err) // a 2048-bit key signs any digest
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// Push builds a signed push of n in format f to /notifications, with the headers MNS sends.
func (s *Signer) Push(n mnspush.Notification, f mnspush.Format) mnspush.Request {
	r := Unsigned(n, f)
	s.Sign(&r)
	return r
}

// Unsigned builds the push of n in format f without Authorization, Date and certificate URL.
func Unsigned(n mnspush.Notification, f mnspush.Format) mnspush.Request {
	h := http.Header{}
	var body []byte
	switch f {
	case mnspush.FormatJSON:
		body = EncodeJSON(n)
		h.Set("Content-Type", "application/json;charset=utf-8")
	case mnspush.FormatSimplified:
		body = []byte(n.Message)
		h.Set("Content-Type", "text/plain;charset=utf-8")
	default:
		body = EncodeXML(n)
		h.Set("Content-Type", "text/xml;charset=utf-8")
	}
	h.Set("User-Agent", "Aliyun Notification Service Agent")
	h.Set("X-Mns-Request-Id", "6423F9B7BF94313030AF5EA0")
	h.Set("X-Mns-Version", "2015-06-06")
	h.Set("X-Mns-Message-Id", n.MessageID)
	if n.MessageTag != "" {
		h.Set("X-Mns-Message-Tag", n.MessageTag)
	}
	h.Set("X-Mns-Topic-Owner", n.TopicOwner)
	h.Set("X-Mns-Topic-Name", n.TopicName)
	h.Set("X-Mns-Subscriber", n.Subscriber)
	h.Set("X-Mns-Subscription-Name", n.SubscriptionName)
	if !n.PublishTime.IsZero() {
		h.Set("X-Mns-Publish-Time", strconv.FormatInt(n.PublishTime.UnixMilli(), 10))
	}
	return mnspush.Request{Method: http.MethodPost, Target: "/notifications", Header: h, Body: body, Proto: "HTTP/1.1"}
}

// Sample returns a notification like the ones in the topic push guide.
func Sample(id, message string) mnspush.Notification {
	sum := md5.Sum([]byte(message))
	return mnspush.Notification{
		TopicOwner:       "1269128356620446",
		TopicName:        "MyTopic1",
		Subscriber:       "1269128356620446",
		SubscriptionName: "MyTopic1-Sub1",
		MessageID:        id,
		MessageMD5:       strings.ToUpper(hex.EncodeToString(sum[:])),
		Message:          message,
		PublishTime:      time.UnixMilli(1463476256857),
	}
}

type xmlNotification struct {
	XMLName          xml.Name `xml:"http://mns.aliyuncs.com/doc/v1/ Notification"`
	TopicOwner       string   `xml:"TopicOwner"`
	TopicName        string   `xml:"TopicName"`
	Subscriber       string   `xml:"Subscriber"`
	SubscriptionName string   `xml:"SubscriptionName"`
	MessageID        string   `xml:"MessageId"`
	MessageMD5       string   `xml:"MessageMD5"`
	MessageTag       string   `xml:"MessageTag"`
	Message          string   `xml:"Message"`
	PublishTime      string   `xml:"PublishTime"`
}

func publishTime(n mnspush.Notification) string {
	if n.PublishTime.IsZero() {
		return ""
	}
	return strconv.FormatInt(n.PublishTime.UnixMilli(), 10)
}

// EncodeXML renders n as an XML-format notification body.
func EncodeXML(n mnspush.Notification) []byte {
	b, err := xml.MarshalIndent(xmlNotification{
		TopicOwner: n.TopicOwner, TopicName: n.TopicName, Subscriber: n.Subscriber,
		SubscriptionName: n.SubscriptionName, MessageID: n.MessageID, MessageMD5: n.MessageMD5,
		MessageTag: n.MessageTag, Message: n.Message, PublishTime: publishTime(n),
	}, "", "  ")
	if err != nil {
		panic(err) // strings always marshal
	}
	return append([]byte(`<?xml version="1.0" encoding="utf-8"?>`+"\n"), b...)
}

// EncodeJSON renders n as a JSON-format notification body (PublishTime a string).
func EncodeJSON(n mnspush.Notification) []byte {
	b, err := json.Marshal(map[string]string{
		"TopicOwner": n.TopicOwner, "TopicName": n.TopicName, "Subscriber": n.Subscriber,
		"SubscriptionName": n.SubscriptionName, "MessageId": n.MessageID, "MessageMD5": n.MessageMD5,
		"MessageTag": n.MessageTag, "Message": n.Message, "PublishTime": publishTime(n),
	})
	if err != nil {
		panic(err) // strings always marshal
	}
	return b
}
