package mnsqueue

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"unicode/utf8"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/alicom-drain/alicom-drain/internal/queue"
)

// The answers of the receive requests are read here rather than by the SDK's queue methods,
// whose encoding/xml costs more CPU than the rest of the client's work on a message together
// (cmd/bench, BenchmarkReceiveDecode, BenchmarkClientReceiveDelete); request.go builds and
// sends the requests.

// fromSDK converts the SDK decoder's messages.
func fromSDK(in []ali_mns.MessageReceiveResponse) []queue.Message {
	out := make([]queue.Message, 0, len(in))
	for _, sm := range in {
		out = append(out, queue.Message{
			ID:               sm.MessageId,
			ReceiptHandle:    sm.ReceiptHandle,
			Body:             sm.MessageBody,
			BodyMD5:          sm.MessageBodyMD5,
			DequeueCount:     sm.DequeueCount,
			Priority:         sm.Priority,
			EnqueueTime:      fromMillis(sm.EnqueueTime),
			FirstDequeueTime: fromMillis(sm.FirstDequeueTime),
			NextVisibleTime:  fromMillis(sm.NextVisibleTime),
		})
	}
	return out
}

// appendDeleteBody appends what xml.Marshal(ali_mns.ReceiptHandles{...}) writes: the body of
// BatchDeleteMessage.
func appendDeleteBody(b []byte, handles []string) []byte {
	const open, end = "<ReceiptHandle>", "</ReceiptHandle>"
	b = append(b, "<ReceiptHandles>"...)
	for _, h := range handles {
		b = append(b, open...)
		if needsEscape(h) {
			w := bytes.NewBuffer(b)
			_ = xml.EscapeText(w, []byte(h)) // writing to a bytes.Buffer does not fail
			b = w.Bytes()
		} else {
			b = append(b, h...)
		}
		b = append(b, end...)
	}
	return append(b, "</ReceiptHandles>"...)
}

// needsEscape reports whether xml.EscapeText might change h: anything but printable ASCII
// without XML's special characters (receipt handles are letters, digits and "-+/=").
func needsEscape(h string) bool {
	for i := 0; i < len(h); i++ {
		if c := h[i]; c < 0x20 || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' || c == '\'' || c == '"' {
			return true
		}
	}
	return false
}

// decodeBatch decodes a BatchReceiveMessage answer of the plain shape
// <Messages><Message><Field>text</Field>...</Message>...</Messages>. It declines (ok false)
// anything else — CDATA, comments, attributes, nested elements, an unknown entity, a number
// that does not parse — and the caller then decodes with encoding/xml, so it never has to be
// right about XML in general, only about what it accepts. (CDATA and comments decline where
// they would start: as text with a '<', or as an element whose name starts with '!'.)
//
// The answer is copied into one string and the fields without entities are slices of it: one
// allocation for the text of the whole batch instead of four per message. A message's fields
// therefore keep the whole answer (at most MaxResponseBytes) alive while any of them is.
func decodeBatch(body []byte) (msgs []queue.Message, ok bool) {
	const open, end, rootEnd = "<Message>", "</Message>", "</Messages>"
	rest := trimSpace(string(body))
	if strings.HasPrefix(rest, "<?") {
		i := strings.Index(rest, "?>")
		if i < 0 || !xmlDecls[rest[:i+2]] {
			return nil, false
		}
		rest = trimSpace(rest[i+2:])
	}
	// The root: <Messages> or <Messages xmlns="...">, nothing else.
	switch {
	case strings.HasPrefix(rest, "<Messages>"):
		rest = rest[len("<Messages>"):]
	case strings.HasPrefix(rest, `<Messages xmlns="`):
		rest = rest[len(`<Messages xmlns="`):]
		i := strings.IndexByte(rest, '"')
		if i < 0 || !plainAttr(rest[:i]) || !strings.HasPrefix(rest[i:], `">`) {
			return nil, false
		}
		rest = rest[i+2:]
	default:
		return nil, false
	}
	msgs = make([]queue.Message, 0, queue.MaxBatch)
	for {
		rest = trimSpace(rest)
		switch {
		case strings.HasPrefix(rest, rootEnd):
			if len(trimSpace(rest[len(rootEnd):])) != 0 {
				return nil, false
			}
			return msgs, len(msgs) > 0
		case strings.HasPrefix(rest, open):
			rest = rest[len(open):]
			j := strings.Index(rest, end)
			if j < 0 {
				return nil, false
			}
			m, ok := decodeMessage(rest[:j])
			if !ok {
				return nil, false
			}
			msgs = append(msgs, m)
			rest = rest[j+len(end):]
		default:
			return nil, false
		}
	}
}

// xmlDecls are the declarations MNS answers start with (the emulator's and recorded ones).
var xmlDecls = map[string]bool{
	`<?xml version="1.0" ?>`:                  true,
	`<?xml version="1.0"?>`:                   true,
	`<?xml version="1.0" encoding="UTF-8"?>`:  true,
	`<?xml version="1.0" encoding="UTF-8" ?>`: true,
	`<?xml version="1.0" encoding="utf-8"?>`:  true,
}

// trimSpace drops leading XML white space (a loop: strings.TrimLeft builds its set per call).
func trimSpace(s string) string {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return s[i:]
}

func decodeMessage(el string) (m queue.Message, ok bool) {
	for {
		el = trimSpace(el)
		if len(el) == 0 {
			return m, m.ReceiptHandle != "" && m.ID != ""
		}
		if len(el) < 2 || el[0] != '<' || el[1] == '!' || el[1] == '?' || el[1] == '/' {
			return m, false
		}
		e := strings.IndexByte(el, '>')
		if e < 0 {
			return m, false
		}
		name := el[1:e]
		if !plainName(name) {
			return m, false // attributes, namespaces, a self-closing element, an odd name
		}
		el = el[e+1:]
		k := strings.Index(el, "</")
		if k < 0 || !strings.HasPrefix(el[k+2:], name) || len(el) < k+2+len(name)+1 || el[k+2+len(name)] != '>' {
			return m, false // nested element or a mismatched end tag
		}
		text := el[:k]
		el = el[k+2+len(name)+1:]
		s, good := unescape(text)
		if !good {
			return m, false
		}
		var err error
		var n int64
		switch name {
		case "MessageId":
			m.ID = s
		case "ReceiptHandle":
			m.ReceiptHandle = s
		case "MessageBodyMD5":
			m.BodyMD5 = s
		case "MessageBody":
			m.Body = s
		case "EnqueueTime":
			n, err = strconv.ParseInt(s, 10, 64)
			m.EnqueueTime = fromMillis(n)
		case "NextVisibleTime":
			n, err = strconv.ParseInt(s, 10, 64)
			m.NextVisibleTime = fromMillis(n)
		case "FirstDequeueTime":
			n, err = strconv.ParseInt(s, 10, 64)
			m.FirstDequeueTime = fromMillis(n)
		case "DequeueCount":
			m.DequeueCount, err = strconv.ParseInt(s, 10, 64)
		case "Priority":
			m.Priority, err = strconv.ParseInt(s, 10, 64)
		}
		if err != nil {
			return m, false
		}
	}
}

// unescape resolves the five predefined entities and character references; anything else
// (a '<', a bare '&', an unknown entity, a code point XML does not allow) declines. Text
// without a reference is returned as it is, without a copy.
func unescape(b string) (string, bool) {
	ok, refs := xmlText(b)
	if !ok {
		return "", false
	}
	if !refs {
		return b, true
	}
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		i := strings.IndexByte(b, '&')
		if i < 0 {
			out = append(out, b...)
			break
		}
		out = append(out, b[:i]...)
		b = b[i:]
		j := strings.IndexByte(b, ';')
		if j < 0 {
			return "", false
		}
		ent := b[1:j]
		b = b[j+1:]
		switch ent {
		case "amp":
			out = append(out, '&')
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return "", false
			}
			base, digits := 10, ent[1:]
			if digits[0] == 'x' {
				base, digits = 16, digits[1:]
			}
			n, err := strconv.ParseUint(digits, base, 32)
			if err != nil || !xmlChar(rune(n)) || n == '\r' {
				return "", false
			}
			out = utf8.AppendRune(out, rune(n))
		}
	}
	return string(out), true
}

// xmlText reports whether s is text encoding/xml reads back unchanged, apart from references:
// valid UTF-8 of characters XML allows, no '<', no carriage return (encoding/xml rewrites
// \r\n to \n). refs says whether s holds a '&' to resolve. One pass, since the body of every
// message goes through it.
func xmlText(s string) (ok, refs bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '<':
				return false, false
			case c == '&':
				refs = true
			case c < 0x20 && c != '\t' && c != '\n':
				return false, false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !xmlChar(r) {
			return false, false
		}
		i += size
	}
	return true, refs
}

// plainName reports whether an element name is letters and digits, starting with a letter: the
// names MNS uses.
func plainName(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// plainAttr reports whether an attribute value is printable ASCII without the characters XML
// treats specially: what a namespace URI such as http://mns.aliyuncs.com/doc/v1/ is made of.
// (FuzzDecodeBatch found that a control character there was accepted.)
func plainAttr(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`<>&'"`, c) >= 0 {
			return false
		}
	}
	return true
}

// xmlChar reports whether r is a character XML 1.0 allows.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}
