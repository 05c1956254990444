package mnspush

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrMalformed: the body is not a notification in the expected format (answered 400).
var ErrMalformed = errors.New("mnspush: notification cannot be parsed")

// Format is a subscription's NotifyContentFormat.
type Format string

// Notification formats. FormatAuto recognises the format from the body.
const (
	FormatAuto       Format = ""
	FormatXML        Format = "XML"
	FormatJSON       Format = "JSON"
	FormatSimplified Format = "SIMPLIFIED"
)

// ParseFormat reads a format name, case-insensitively; "auto" and "" are FormatAuto.
func ParseFormat(s string) (Format, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "AUTO":
		return FormatAuto, nil
	case "XML":
		return FormatXML, nil
	case "JSON":
		return FormatJSON, nil
	case "SIMPLIFIED":
		return FormatSimplified, nil
	}
	return FormatAuto, fmt.Errorf("unknown notification format %s: want XML, JSON, SIMPLIFIED or auto", quote(s))
}

// Notification is one pushed message with its metadata.
type Notification struct {
	// Format is the format the body was in.
	Format Format
	// TopicOwner, TopicName, Subscriber and SubscriptionName say where the push came from.
	// In SIMPLIFIED format they come from the x-mns-* headers.
	TopicOwner       string
	TopicName        string
	Subscriber       string
	SubscriptionName string
	// MessageID is the MNS message id.
	MessageID string
	// MessageMD5 is the MD5 MNS computed over Message (upper-case hex); empty in SIMPLIFIED format.
	MessageMD5 string
	// MessageTag is the tag given at publish time, possibly empty.
	MessageTag string
	// Message is the published message text.
	Message string
	// PublishTime is when the message was published; zero when MNS did not say.
	PublishTime time.Time
}

// ParseNotification parses a push body. With FormatAuto an XML document whose root is
// Notification is read as XML, a JSON object with MessageId and Message members as JSON,
// and anything else as SIMPLIFIED (the message itself, identified by the x-mns-message-id
// header). Errors wrap ErrMalformed.
func ParseNotification(h http.Header, body []byte, f Format) (Notification, error) {
	return parseNotification(lowerHeaders(h), body, f)
}

var errNotNotification = errors.New("not a notification document")

func parseNotification(h headers, body []byte, f Format) (Notification, error) {
	switch f {
	case FormatXML:
		n, err := parseXML(body)
		return n, malformed(err)
	case FormatJSON:
		n, err := parseJSON(body)
		return n, malformed(err)
	case FormatSimplified:
		return parseSimplified(h, body)
	case FormatAuto:
	default:
		return Notification{}, fmt.Errorf("%w: unknown format %s", ErrMalformed, quote(string(f)))
	}

	trimmed := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\ufeff")), " \t\r\n")
	ctype := strings.ToLower(h.first("content-type"))
	switch {
	case bytes.HasPrefix(trimmed, []byte("<")):
		n, err := parseXML(body)
		if err == nil || !errors.Is(err, errNotNotification) || strings.Contains(ctype, "xml") {
			return n, malformed(err)
		}
	case bytes.HasPrefix(trimmed, []byte("{")):
		n, err := parseJSON(body)
		if err == nil || !errors.Is(err, errNotNotification) || strings.Contains(ctype, "json") {
			return n, malformed(err)
		}
	}
	return parseSimplified(h, body)
}

// malformed makes sure a parse error is an ErrMalformed: "not a notification" is only a
// reason to try SIMPLIFIED, and becomes malformed when SIMPLIFIED is not an option.
func malformed(err error) error {
	if err == nil || errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// xmlNotification matches the Notification element by local name, whatever its namespace.
type xmlNotification struct {
	XMLName          xml.Name `xml:"Notification"`
	TopicOwner       *string  `xml:"TopicOwner"`
	TopicName        *string  `xml:"TopicName"`
	Subscriber       *string  `xml:"Subscriber"`
	SubscriptionName *string  `xml:"SubscriptionName"`
	MessageID        *string  `xml:"MessageId"`
	MessageMD5       *string  `xml:"MessageMD5"`
	MessageTag       *string  `xml:"MessageTag"`
	Message          *string  `xml:"Message"`
	PublishTime      *string  `xml:"PublishTime"`
}

func parseXML(body []byte) (Notification, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	var start xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return Notification{}, fmt.Errorf("%w: empty XML document", errNotNotification)
			}
			return Notification{}, fmt.Errorf("%w (%w): XML: %v", errNotNotification, ErrMalformed, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			start = se
			break
		}
	}
	if start.Name.Local != "Notification" {
		return Notification{}, fmt.Errorf("%w: XML root element is %s", errNotNotification, quote(start.Name.Local))
	}
	var x xmlNotification
	if err := d.DecodeElement(&x, &start); err != nil {
		return Notification{}, fmt.Errorf("%w: XML: %v", ErrMalformed, err)
	}
	if err := onlyMiscAfter(d); err != nil {
		return Notification{}, err
	}
	return build(FormatXML, x.TopicOwner, x.TopicName, x.Subscriber, x.SubscriptionName,
		x.MessageID, x.MessageMD5, x.MessageTag, x.Message, x.PublishTime)
}

// onlyMiscAfter refuses content after the root element other than comments, processing
// instructions and white space.
func onlyMiscAfter(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: XML after the Notification element: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return fmt.Errorf("%w: text after the Notification element", ErrMalformed)
			}
		default:
			return fmt.Errorf("%w: content after the Notification element", ErrMalformed)
		}
	}
}

func parseJSON(body []byte) (Notification, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return Notification{}, fmt.Errorf("%w (%w): JSON: %v", errNotNotification, ErrMalformed, err)
	}
	_, hasID := obj["MessageId"]
	_, hasMsg := obj["Message"]
	if !hasID || !hasMsg {
		return Notification{}, fmt.Errorf("%w: JSON object without MessageId and Message members", errNotNotification)
	}
	var errs []error
	str := func(key string) *string {
		raw, ok := obj[key]
		if !ok || string(raw) == "null" {
			return nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			errs = append(errs, fmt.Errorf("%s is not a string", key))
			return nil
		}
		return &s
	}
	owner, topic, sub, subName := str("TopicOwner"), str("TopicName"), str("Subscriber"), str("SubscriptionName")
	id, md5, tag, msg := str("MessageId"), str("MessageMD5"), str("MessageTag"), str("Message")
	var publish *string
	if raw, ok := obj["PublishTime"]; ok && string(raw) != "null" {
		// The API page says a string; accept a bare number too.
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			s := n.String()
			publish = &s
		} else {
			publish = str("PublishTime")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Notification{}, fmt.Errorf("%w: JSON: %v", ErrMalformed, err)
	}
	return build(FormatJSON, owner, topic, sub, subName, id, md5, tag, msg, publish)
}

func build(f Format, owner, topic, sub, subName, id, md5, tag, msg, publish *string) (Notification, error) {
	if id == nil || strings.TrimSpace(*id) == "" {
		return Notification{}, fmt.Errorf("%w: %s notification without MessageId", ErrMalformed, f)
	}
	if msg == nil {
		return Notification{}, fmt.Errorf("%w: %s notification without Message", ErrMalformed, f)
	}
	n := Notification{
		Format:           f,
		TopicOwner:       deref(owner),
		TopicName:        deref(topic),
		Subscriber:       deref(sub),
		SubscriptionName: deref(subName),
		MessageID:        strings.TrimSpace(*id),
		MessageMD5:       strings.ToUpper(strings.TrimSpace(deref(md5))),
		MessageTag:       deref(tag),
		Message:          *msg,
	}
	t, err := parseMillis(deref(publish))
	if err != nil {
		return Notification{}, fmt.Errorf("%w: %s notification: PublishTime %s: %v", ErrMalformed, f, quote(deref(publish)), err)
	}
	n.PublishTime = t
	return n, nil
}

func parseSimplified(h headers, body []byte) (Notification, error) {
	id := strings.TrimSpace(h.first("x-mns-message-id"))
	if id == "" {
		return Notification{}, fmt.Errorf("%w: body is neither an XML nor a JSON notification, and no x-mns-message-id header marks it SIMPLIFIED", ErrMalformed)
	}
	t, err := parseMillis(h.first("x-mns-publish-time"))
	if err != nil {
		return Notification{}, fmt.Errorf("%w: x-mns-publish-time %s: %v", ErrMalformed, quote(h.first("x-mns-publish-time")), err)
	}
	return Notification{
		Format:           FormatSimplified,
		TopicOwner:       h.first("x-mns-topic-owner"),
		TopicName:        h.first("x-mns-topic-name"),
		Subscriber:       h.first("x-mns-subscriber"),
		SubscriptionName: h.first("x-mns-subscription-name"),
		MessageID:        id,
		MessageTag:       h.first("x-mns-message-tag"),
		Message:          string(body),
		PublishTime:      t,
	}, nil
}

func parseMillis(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 0 {
		return time.Time{}, errors.New("want epoch milliseconds")
	}
	return time.UnixMilli(ms), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
