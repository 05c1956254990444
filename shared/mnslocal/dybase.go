package mnslocal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rpcTimeLayout is how Dybaseapi writes CreateTime and ExpireTime, in UTC+8.
const rpcTimeLayout = "2006-01-02 15:04:05"

// rpcFormat is the answer format of an RPC request: XML when Format=XML, else JSON.
func rpcFormat(r *http.Request) string {
	if strings.EqualFold(r.Form.Get("Format"), "XML") {
		return "XML"
	}
	return "JSON"
}

// rpcError is a Dybaseapi error answer.
type rpcError struct {
	status    int
	code, msg string
}

func rpcErr(status int, code, msg string) *rpcError { return &rpcError{status, code, msg} }

func missing(param string) *rpcError {
	return rpcErr(400, "Missing"+param, param+" is mandatory for this action.")
}

// serveRPC answers a Dybaseapi RPC call at "/" (GET or POST, parameters in the query
// string or in a form body). Only QueryTokenForMnsQueue exists.
func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request, op string) {
	format := rpcFormat(r)
	if r.Form == nil {
		s.writeRPCError(w, r, format, 400, "InvalidParameter", "The request parameters could not be parsed as a query string or form.")
		return
	}
	params := make(map[string]string, len(r.Form))
	for k, v := range r.Form {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	cred, rerr := s.queryToken(r, params)
	if rerr != nil {
		s.writeRPCError(w, r, format, rerr.status, rerr.code, rerr.msg)
		return
	}
	s.stats.tokensIssued.Add(1)
	dto := tokenDTO{
		AccessKeyId:     cred.keyID,
		AccessKeySecret: cred.secret,
		SecurityToken:   cred.token,
		CreateTime:      s.now().In(fixedCST).Format(rpcTimeLayout),
		ExpireTime:      cred.expires.In(fixedCST).Format(rpcTimeLayout),
	}
	resp := tokenResponse{RequestId: newRPCRequestID(), Code: "OK", Message: "OK", MessageTokenDTO: dto}
	s.writeRPC(w, format, http.StatusOK, resp.RequestId, resp)
}

// queryToken validates a QueryTokenForMnsQueue call and issues a credential.
func (s *Server) queryToken(r *http.Request, p map[string]string) (*stsCred, *rpcError) {
	switch action := p["Action"]; {
	case action == "":
		return nil, missing("Action")
	case action != "QueryTokenForMnsQueue":
		return nil, rpcErr(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "ACS3-") {
		return nil, rpcErr(400, "InvalidSignatureMethod", "This emulator checks RPC signature version 1.0 (HMAC-SHA1 parameters), not ACS3 Authorization headers.")
	}
	for _, name := range []string{"Version", "AccessKeyId", "Signature", "SignatureMethod", "Timestamp", "SignatureNonce"} {
		if p[name] == "" {
			return nil, missing(name)
		}
	}
	if p["Version"] != "2017-05-25" {
		return nil, rpcErr(400, "InvalidVersion", "Specified parameter Version is not valid: want 2017-05-25.")
	}
	if p["SignatureMethod"] != "HMAC-SHA1" {
		return nil, rpcErr(400, "InvalidSignatureMethod", "Specified signature method is not supported: want HMAC-SHA1.")
	}
	if v, ok := p["SignatureVersion"]; ok && v != "1.0" {
		return nil, rpcErr(400, "InvalidSignatureVersion", "Specified signature version is not supported: want 1.0.")
	}
	ts, err := time.Parse(time.RFC3339, p["Timestamp"])
	if err != nil {
		return nil, rpcErr(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted: want yyyy-MM-ddTHH:mm:ssZ.")
	}
	now := s.now()
	if d := now.Sub(ts); d > maxSkew || d < -maxSkew {
		return nil, rpcErr(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
	}
	// Only the customer key may call Dybaseapi. A SecurityToken parameter is accepted with
	// any value: the emulator does not model the caller's own STS role.
	if p["AccessKeyId"] != s.creds.customerID {
		return nil, rpcErr(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	want := rpcSignature(r.Method, p, s.creds.customerSecret)
	if !hmac.Equal([]byte(p["Signature"]), []byte(want)) {
		return nil, rpcErr(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
	}
	if !s.nonces.use(p["AccessKeyId"]+"\x00"+p["SignatureNonce"], now) {
		return nil, rpcErr(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	mt := p["MessageType"]
	if mt == "" {
		return nil, missing("MessageType")
	}
	qname := s.AlicomQueueName(mt)
	if s.queue(qname) == nil {
		return nil, rpcErr(400, "InvalidMessageType", fmt.Sprintf("MessageType %q has no Alicom queue %s on this account.", mt, qname))
	}
	if qn := p["QueueName"]; qn != "" && qn != qname {
		return nil, rpcErr(400, "InvalidQueueName", fmt.Sprintf("QueueName %q is not the Alicom queue of MessageType %q (%s).", qn, mt, qname))
	}
	cred := &stsCred{
		keyID:       stsKeyPrefix + randomString(24, alnum),
		secret:      randomString(44, alnum),
		token:       "CAIS" + randomBase64(241),
		messageType: mt,
		queue:       qname,
		expires:     now.Add(s.cfg.TokenTTL),
	}
	s.creds.add(cred, now)
	return cred, nil
}

// rpcSignature is signature version 1.0: HMAC-SHA1 over METHOD&%2F&encode(canonical
// query), keyed with secret+"&". Every parameter but Signature takes part, empty ones too
// (the Go SDK sends SignatureType=).
func rpcSignature(method string, p map[string]string, secret string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var canon strings.Builder
	for i, k := range keys {
		if i > 0 {
			canon.WriteByte('&')
		}
		canon.WriteString(percentEncode(k))
		canon.WriteByte('=')
		canon.WriteString(percentEncode(p[k]))
	}
	sts := method + "&" + percentEncode("/") + "&" + percentEncode(canon.String())
	h := hmac.New(sha1.New, []byte(secret+"&"))
	h.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// percentEncode is RFC 3986 encoding: unreserved characters stay, everything else is
// %XX with upper-case hex (so space is %20, '*' is %2A, '~' stays).
func percentEncode(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

// tokenDTO and tokenResponse are the answer of QueryTokenForMnsQueue, fields in the
// order the real service writes them.
type tokenDTO struct {
	AccessKeyId     string `json:"AccessKeyId" xml:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret" xml:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken" xml:"SecurityToken"`
	CreateTime      string `json:"CreateTime" xml:"CreateTime"`
	ExpireTime      string `json:"ExpireTime" xml:"ExpireTime"`
}

type tokenResponse struct {
	XMLName         xml.Name `json:"-" xml:"QueryTokenForMnsQueueResponse"`
	RequestId       string   `json:"RequestId" xml:"RequestId"`
	Code            string   `json:"Code" xml:"Code"`
	Message         string   `json:"Message" xml:"Message"`
	MessageTokenDTO tokenDTO `json:"MessageTokenDTO" xml:"MessageTokenDTO"`
}

type rpcErrorBody struct {
	XMLName   xml.Name `json:"-" xml:"Error"`
	RequestId string   `json:"RequestId" xml:"RequestId"`
	HostId    string   `json:"HostId" xml:"HostId"`
	Code      string   `json:"Code" xml:"Code"`
	Message   string   `json:"Message" xml:"Message"`
	Recommend string   `json:"Recommend" xml:"Recommend"`
}

// writeRPCError answers a Dybaseapi error in the requested format (JSON by default).
func (s *Server) writeRPCError(w http.ResponseWriter, r *http.Request, format string, status int, code, msg string) {
	body := rpcErrorBody{
		RequestId: newRPCRequestID(),
		HostId:    r.Host,
		Code:      code,
		Message:   msg,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + code + "&product=Dybaseapi",
	}
	s.writeRPC(w, format, status, body.RequestId, body)
}

func (s *Server) writeRPC(w http.ResponseWriter, format string, status int, requestID string, v any) {
	var body []byte
	var err error
	if format == "XML" {
		body, err = xml.Marshal(v)
		body = append([]byte("<?xml version='1.0' encoding='UTF-8'?>"), body...)
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	} else {
		body, err = json.Marshal(v)
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
	}
	if err != nil { // cannot happen with these plain string structs
		http.Error(w, "mnslocal: encoding the answer failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("x-acs-request-id", requestID)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// nonceStore remembers SignatureNonce values for twice the allowed clock skew, enough to
// refuse a replay of any request whose Timestamp is still accepted.
type nonceStore struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newNonceStore() *nonceStore { return &nonceStore{seen: make(map[string]time.Time)} }

// use records nonce and reports whether it was fresh.
func (n *nonceStore) use(nonce string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.seen[nonce]; ok {
		return false
	}
	if len(n.seen) >= 4096 {
		for k, t := range n.seen {
			if now.Sub(t) > 2*maxSkew || t.Sub(now) > 2*maxSkew {
				delete(n.seen, k)
			}
		}
	}
	n.seen[nonce] = now
	return true
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n characters of alphabet from crypto/rand (issued secrets).
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// randomBase64 is standard base64 with padding of n random bytes: like real STS tokens it
// carries '+', '/' and '=' that clients must not mangle.
func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// newRPCRequestID is an upper-case UUID, as POP request ids.
func newRPCRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
