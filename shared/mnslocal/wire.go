package mnslocal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The MNS wire constants, exactly as the real service sends them.
const (
	mnsNamespace   = "http://mns.aliyuncs.com/doc/v1" // no trailing slash: the Java SDK binds to it
	mnsVersion     = "2015-06-06"
	xmlDecl        = `<?xml version="1.0" ?>`
	xmlContentType = "text/xml;charset=utf-8"
	headerReqID    = "x-mns-request-id"
)

// xmlDoc builds an MNS response body: declaration, namespaced root, 2-space indentation.
// Hand-built rather than encoding/xml because the layout is part of the wire contract and
// the receive path is hot.
type xmlDoc struct {
	buf   bytes.Buffer
	depth int
	stack []string
}

// newXMLDoc starts a document whose root element is root.
func newXMLDoc(root string) *xmlDoc {
	d := &xmlDoc{}
	d.buf.Grow(512)
	d.buf.WriteString(xmlDecl)
	d.buf.WriteString("\n<")
	d.buf.WriteString(root)
	d.buf.WriteString(` xmlns="` + mnsNamespace + `">` + "\n")
	d.depth = 1
	d.stack = append(d.stack, root)
	return d
}

func (d *xmlDoc) indent() {
	for range d.depth {
		d.buf.WriteString("  ")
	}
}

// open starts a nested element.
func (d *xmlDoc) open(name string) {
	d.indent()
	d.buf.WriteString("<" + name + ">\n")
	d.depth++
	d.stack = append(d.stack, name)
}

// close ends the innermost open element.
func (d *xmlDoc) close() {
	name := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	d.depth--
	d.indent()
	d.buf.WriteString("</" + name + ">\n")
}

// text writes <name>value</name> with value escaped.
func (d *xmlDoc) text(name, value string) {
	d.indent()
	d.buf.WriteString("<" + name + ">")
	_ = xml.EscapeText(&d.buf, []byte(value))
	d.buf.WriteString("</" + name + ">\n")
}

// int writes <name>v</name>.
func (d *xmlDoc) int(name string, v int64) {
	d.indent()
	d.buf.WriteString("<" + name + ">")
	d.buf.WriteString(strconv.FormatInt(v, 10))
	d.buf.WriteString("</" + name + ">\n")
}

// bytes closes every open element and returns the document.
func (d *xmlDoc) bytes() []byte {
	for len(d.stack) > 0 {
		d.close()
	}
	return d.buf.Bytes()
}

// setMNSHeaders sets the headers every MNS answer carries. The request id is chosen
// once per request (in ServeHTTP) and kept in the response header map, so any handler,
// the topic code included, can read it back with requestIDOf.
func (s *Server) setMNSHeaders(w http.ResponseWriter) {
	h := w.Header()
	if h.Get(headerReqID) == "" {
		h.Set(headerReqID, newRequestID())
	}
	h.Set("x-mns-version", mnsVersion)
	h.Set("Server", "AliyunMQS")
	h.Set("Date", s.now().UTC().Format(http.TimeFormat))
}

// requestIDOf returns the request id of the answer being written on w.
func requestIDOf(w http.ResponseWriter) string {
	return w.Header().Get(headerReqID)
}

// writeXML answers status with an XML body built by newXMLDoc (nil for no body).
func (s *Server) writeXML(w http.ResponseWriter, status int, doc *xmlDoc) {
	s.setMNSHeaders(w)
	if doc == nil {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	body := doc.bytes()
	w.Header().Set("Content-Type", xmlContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError answers an MNS error with all four children the Python SDK requires.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.setMNSHeaders(w)
	d := newXMLDoc("Error")
	d.text("Code", code)
	d.text("Message", msg)
	d.text("RequestId", requestIDOf(w))
	d.text("HostId", hostID(r))
	s.writeXML(w, status, d)
}

// writeAPIError answers e.
func (s *Server) writeAPIError(w http.ResponseWriter, r *http.Request, e *apiError) {
	s.writeError(w, r, e.status, e.code, e.msg)
}

// apiError is an MNS error answer.
type apiError struct {
	status    int
	code, msg string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errf(status int, code, msg string) *apiError { return &apiError{status, code, msg} }

// The errors answered most often, with the real service's messages.
var (
	errMessageNotExist = errf(404, "MessageNotExist", "Message not exist.")
	errQueueNotExist   = errf(404, "QueueNotExist", "The queue name you provided is not exist.")
	errMalformedXML    = errf(400, "MalformedXML", "The XML you provided was not well-formed.")
	errHandleMalformed = errf(400, "ReceiptHandleError", "The receipt handle you provide is not valid.")
	errAccessDenied    = errf(403, "AccessDenied", "The OwnerId that your Access Key Id associated to is forbidden for this operation.")
	errInternal        = errf(500, "InternalError", "The service encountered an internal error, please retry.")
)

func invalidArgument(msg string) *apiError { return errf(400, "InvalidArgument", msg) }

// hostID is the HostId of errors: the endpoint as the client named it.
func hostID(r *http.Request) string {
	return "http://" + r.Host
}

// newRequestID returns 24 upper-case hex characters, as real MNS request ids.
func newRequestID() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], rand.Uint64())
	binary.BigEndian.PutUint32(b[8:], rand.Uint32())
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// mnsParams are MNS query parameters keyed by lower-cased name: SDKs disagree on
// ReceiptHandle/receiptHandle and VisibilityTimeout/visibilityTimeout.
type mnsParams map[string]string

// parseMNSQuery splits a raw query string. Values are percent-decoded, but '+' stays '+':
// receipt handles are base64 and several SDKs put them into the URL unencoded.
func parseMNSQuery(raw string) mnsParams {
	p := mnsParams{}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		p[strings.ToLower(pctDecode(k))] = pctDecode(v)
	}
	return p
}

// mnsQuery returns the parsed query of an MNS request.
func mnsQuery(r *http.Request) mnsParams { return parseMNSQuery(r.URL.RawQuery) }

// pctDecode percent-decodes s without the form rule '+' → ' '. A malformed escape leaves
// s as it is; validation downstream then names the bad value.
func pctDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// fixedCST is Asia/Shanghai without depending on tzdata (China has no DST).
var fixedCST = time.FixedZone("CST", 8*3600)

// rootElement returns the local name of the first element of an XML body.
func rootElement(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		t, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := t.(xml.StartElement); ok {
			return se.Name.Local
		}
	}
}
