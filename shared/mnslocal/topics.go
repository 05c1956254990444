package mnslocal

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Topic limits, as the real service documents them.
const (
	defaultTopicMessageSize = 65536
	maxMessageTagLen        = 16
	maxEndpointLen          = 1024
)

// The notify strategies and content formats a subscription may name.
const (
	strategyBackoff     = "BACKOFF_RETRY"
	strategyExponential = "EXPONENTIAL_DECAY_RETRY"
	formatXML           = "XML"
	formatJSON          = "JSON"
	formatSimplified    = "SIMPLIFIED"
)

// topicState holds topics, subscriptions and push delivery.
type topicState struct {
	s *Server

	mu     sync.Mutex
	topics map[string]*topic

	signerOnce sync.Once
	pushKey    *pushSigner
	signerErr  error

	push        *pusher
	certFetches atomic.Int64
}

// topic is one topic; its fields are guarded by topicState.mu.
type topic struct {
	name           string
	maxMessageSize int64
	loggingEnabled bool
	createMS       int64
	modifyMS       int64
	messages       int64 // published since creation
	subs           map[string]*subscription
}

// subscription is one HTTP subscription; its fields are guarded by topicState.mu. A
// subscription removed from its topic (unsubscribe, topic deleted) has gone set and stop
// closed, which ends its pending pushes at once, retry waits included.
type subscription struct {
	name      string
	topic     string
	endpoint  string
	strategy  string
	format    string
	filterTag string
	createMS  int64
	modifyMS  int64
	gone      bool
	stop      chan struct{}
}

// end marks sub removed; t.mu must be held.
func (sub *subscription) end() {
	if !sub.gone {
		sub.gone = true
		close(sub.stop)
	}
}

// newTopicState is called once by Start, before the server accepts requests.
func newTopicState(s *Server) *topicState {
	t := &topicState{s: s, topics: make(map[string]*topic)}
	t.push = newPusher(t)
	return t
}

// signer returns the push signing key, generated on first use: most emulators never push,
// and a 2048-bit key costs a noticeable fraction of a second.
func (t *topicState) signer() (*pushSigner, error) {
	t.signerOnce.Do(func() { t.pushKey, t.signerErr = newPushSigner() })
	return t.pushKey, t.signerErr
}

// closeTopics is called once by Close, after long polls were told to end and before the
// HTTP server shuts down: it stops push delivery and waits for it.
func (s *Server) closeTopics() { s.topics.push.close() }

// topicOperation names the operation of a request under /topics (segs are the path
// segments, segs[0] == "topics") for stats and fault injection. The body was already read
// and r.Body rewound.
func topicOperation(r *http.Request, segs []string) string {
	switch {
	case len(segs) == 2:
		switch r.Method {
		case http.MethodPut:
			return "CreateTopic"
		case http.MethodDelete:
			return "DeleteTopic"
		case http.MethodGet:
			return "GetTopicAttributes"
		}
	case len(segs) == 3 && segs[2] == "messages" && r.Method == http.MethodPost:
		return "PublishMessage"
	case len(segs) == 4 && segs[2] == "subscriptions":
		switch r.Method {
		case http.MethodPut:
			return "Subscribe"
		case http.MethodDelete:
			return "Unsubscribe"
		case http.MethodGet:
			return "GetSubscriptionAttributes"
		}
	}
	return opUnknown
}

var (
	errTopicNotExist        = errf(404, "TopicNotExist", "The topic you provided is not exist.")
	errTopicAlreadyExist    = errf(409, "TopicAlreadyExist", "The topic you want to create is already exist.")
	errSubscriptionNotExist = errf(404, "SubscriptionNotExist", "The subscription you provided is not exist.")
	errSubscriptionExist    = errf(409, "SubscriptionAlreadyExist", "The subscription you want to create is already exist.")
)

// serveTopics answers an authenticated request under /topics (only the customer key gets
// here: STS credentials are refused before). The request id header is already set.
func (s *Server) serveTopics(w http.ResponseWriter, r *http.Request) {
	_, segs := classifyPath(r)
	op := topicOperation(r, segs)
	if op == opUnknown {
		s.writeError(w, r, 400, "InvalidRequestURL", "The requested URL or method is not a topic operation this emulator supports.")
		return
	}
	// ServeHTTP has read the (bounded) body already and rewound r.Body to it.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeAPIError(w, r, errMalformedXML)
		return
	}
	t := s.topics
	override := strings.EqualFold(mnsQuery(r)["metaoverride"], "true")
	var aerr *apiError
	switch op {
	case "CreateTopic":
		if override {
			aerr = t.setTopicAttributes(w, r, segs[1], body)
		} else {
			aerr = t.createTopic(w, r, segs[1], body)
		}
	case "DeleteTopic":
		aerr = t.deleteTopic(w, segs[1])
	case "GetTopicAttributes":
		aerr = t.getTopicAttributes(w, segs[1])
	case "PublishMessage":
		aerr = t.publish(w, segs[1], body)
	case "Subscribe":
		if override {
			aerr = t.setSubscriptionAttributes(w, segs[1], segs[3], body)
		} else {
			aerr = t.subscribe(w, r, segs[1], segs[3], body)
		}
	case "Unsubscribe":
		aerr = t.unsubscribe(w, segs[1], segs[3])
	case "GetSubscriptionAttributes":
		aerr = t.getSubscriptionAttributes(w, segs[1], segs[3])
	}
	if aerr != nil {
		s.writeAPIError(w, r, aerr)
	}
}

// xmlTopic holds the attributes of a create or set request; absent fields stay nil.
type xmlTopic struct {
	MaximumMessageSize *string `xml:"MaximumMessageSize"`
	LoggingEnabled     *string `xml:"LoggingEnabled"`
}

type topicAttrs struct {
	maxMessageSize int64
	loggingEnabled bool
}

func parseTopicBody(body []byte, a *topicAttrs) *apiError {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	var x xmlTopic
	if rootElement(body) != "Topic" || xml.Unmarshal(body, &x) != nil {
		return errMalformedXML
	}
	if x.MaximumMessageSize != nil && strings.TrimSpace(*x.MaximumMessageSize) != "" {
		v, err := parseIntIn(*x.MaximumMessageSize, "MaximumMessageSize", 1024, 65536)
		if err != nil {
			return err
		}
		a.maxMessageSize = v
	}
	if x.LoggingEnabled != nil && strings.TrimSpace(*x.LoggingEnabled) != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(*x.LoggingEnabled))
		if err != nil {
			return invalidArgument(fmt.Sprintf("The value of LoggingEnabled should be True or False, got %q.", *x.LoggingEnabled))
		}
		a.loggingEnabled = b
	}
	return nil
}

func checkName(kind, name string) *apiError {
	if err := checkQueueName(name); err != nil {
		return errf(400, "Invalid"+kind+"Name", "The "+strings.ToLower(kind)+" name you provided is invalid: "+strings.ReplaceAll(err.Error(), "queue", strings.ToLower(kind))+".")
	}
	return nil
}

// createTopic answers 201 for a new topic, 204 when it exists with the same attributes and
// 409 TopicAlreadyExist when they differ.
func (t *topicState) createTopic(w http.ResponseWriter, r *http.Request, name string, body []byte) *apiError {
	if err := checkName("Topic", name); err != nil {
		return err
	}
	a := topicAttrs{maxMessageSize: defaultTopicMessageSize}
	if err := parseTopicBody(body, &a); err != nil {
		return err
	}
	now := t.s.nowMS()
	t.mu.Lock()
	existing := t.topics[name]
	if existing == nil {
		t.topics[name] = &topic{name: name, maxMessageSize: a.maxMessageSize, loggingEnabled: a.loggingEnabled,
			createMS: now, modifyMS: now, subs: make(map[string]*subscription)}
	}
	same := existing != nil && existing.maxMessageSize == a.maxMessageSize && existing.loggingEnabled == a.loggingEnabled
	t.mu.Unlock()
	switch {
	case existing == nil:
		w.Header().Set("Location", hostID(r)+"/topics/"+name)
		t.s.writeXML(w, http.StatusCreated, nil)
	case same:
		t.s.writeXML(w, http.StatusNoContent, nil)
	default:
		return errTopicAlreadyExist
	}
	return nil
}

func (t *topicState) setTopicAttributes(w http.ResponseWriter, r *http.Request, name string, body []byte) *apiError {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.topics[name]
	if tp == nil {
		return errTopicNotExist
	}
	a := topicAttrs{maxMessageSize: tp.maxMessageSize, loggingEnabled: tp.loggingEnabled}
	if err := parseTopicBody(body, &a); err != nil {
		return err
	}
	tp.maxMessageSize, tp.loggingEnabled, tp.modifyMS = a.maxMessageSize, a.loggingEnabled, t.s.nowMS()
	t.s.writeXML(w, http.StatusNoContent, nil)
	return nil
}

// deleteTopic removes the topic and its subscriptions (their pending pushes end). A topic
// that does not exist is 404 TopicNotExist, as a missing queue is for DeleteQueue.
func (t *topicState) deleteTopic(w http.ResponseWriter, name string) *apiError {
	t.mu.Lock()
	tp := t.topics[name]
	if tp == nil {
		t.mu.Unlock()
		return errTopicNotExist
	}
	for _, sub := range tp.subs {
		sub.end()
	}
	delete(t.topics, name)
	t.mu.Unlock()
	t.s.writeXML(w, http.StatusNoContent, nil)
	return nil
}

func (t *topicState) getTopicAttributes(w http.ResponseWriter, name string) *apiError {
	t.mu.Lock()
	tp := t.topics[name]
	if tp == nil {
		t.mu.Unlock()
		return errTopicNotExist
	}
	d := newXMLDoc("Topic")
	d.text("TopicName", tp.name)
	d.int("CreateTime", tp.createMS/1000)
	d.int("LastModifyTime", tp.modifyMS/1000)
	d.int("MaximumMessageSize", tp.maxMessageSize)
	d.int("MessageRetentionPeriod", 86400)
	d.int("MessageCount", tp.messages)
	if tp.loggingEnabled {
		d.text("LoggingEnabled", "True")
	} else {
		d.text("LoggingEnabled", "False")
	}
	t.mu.Unlock()
	t.s.writeXML(w, http.StatusOK, d)
	return nil
}

// xmlSubscription is a subscribe or set-attributes request.
type xmlSubscription struct {
	Endpoint            *string `xml:"Endpoint"`
	NotifyStrategy      *string `xml:"NotifyStrategy"`
	NotifyContentFormat *string `xml:"NotifyContentFormat"`
	FilterTag           *string `xml:"FilterTag"`
}

func parseSubscriptionBody(body []byte) (xmlSubscription, *apiError) {
	var x xmlSubscription
	if rootElement(body) != "Subscription" || xml.Unmarshal(body, &x) != nil {
		return x, errMalformedXML
	}
	return x, nil
}

func trimmed(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

func checkStrategy(s string) (string, *apiError) {
	switch strings.ToUpper(s) {
	case "":
		return strategyBackoff, nil
	case strategyBackoff, strategyExponential:
		return strings.ToUpper(s), nil
	}
	return "", invalidArgument(fmt.Sprintf("The NotifyStrategy should be %s or %s, got %q.", strategyBackoff, strategyExponential, s))
}

// checkEndpoint accepts HTTP(S) endpoints only: queue and mail endpoints are not emulated.
func checkEndpoint(e string) *apiError {
	u, err := url.Parse(e)
	if e == "" || len(e) > maxEndpointLen || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return invalidArgument(fmt.Sprintf("The Endpoint should be an http:// or https:// URL (queue and mail endpoints are not emulated), got %q.", e))
	}
	return nil
}

// subscribe answers 201 for a new subscription, 204 when it exists with the same attributes
// and 409 SubscriptionAlreadyExist when they differ.
func (t *topicState) subscribe(w http.ResponseWriter, r *http.Request, topicName, name string, body []byte) *apiError {
	if err := checkName("Subscription", name); err != nil {
		return err
	}
	x, aerr := parseSubscriptionBody(body)
	if aerr != nil {
		return aerr
	}
	sub := &subscription{name: name, topic: topicName, endpoint: trimmed(x.Endpoint), filterTag: trimmed(x.FilterTag),
		stop: make(chan struct{})}
	if err := checkEndpoint(sub.endpoint); err != nil {
		return err
	}
	if sub.strategy, aerr = checkStrategy(trimmed(x.NotifyStrategy)); aerr != nil {
		return aerr
	}
	switch f := strings.ToUpper(trimmed(x.NotifyContentFormat)); f {
	case "":
		sub.format = formatXML
	case formatXML, formatJSON, formatSimplified:
		sub.format = f
	default:
		return invalidArgument(fmt.Sprintf("The NotifyContentFormat should be XML, JSON or SIMPLIFIED, got %q.", f))
	}
	if len(sub.filterTag) > maxMessageTagLen {
		return invalidArgument(fmt.Sprintf("The FilterTag is longer than %d characters.", maxMessageTagLen))
	}
	sub.createMS = t.s.nowMS()
	sub.modifyMS = sub.createMS
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.topics[topicName]
	if tp == nil {
		return errTopicNotExist
	}
	if old := tp.subs[name]; old != nil {
		if old.endpoint == sub.endpoint && old.strategy == sub.strategy && old.format == sub.format && old.filterTag == sub.filterTag {
			t.s.writeXML(w, http.StatusNoContent, nil)
			return nil
		}
		return errSubscriptionExist
	}
	tp.subs[name] = sub
	w.Header().Set("Location", hostID(r)+"/topics/"+topicName+"/subscriptions/"+name)
	t.s.writeXML(w, http.StatusCreated, nil)
	return nil
}

// setSubscriptionAttributes changes a subscription's NotifyStrategy (the only attribute MNS
// lets one change); pushes already pending keep the strategy they started with.
func (t *topicState) setSubscriptionAttributes(w http.ResponseWriter, topicName, name string, body []byte) *apiError {
	x, aerr := parseSubscriptionBody(body)
	if aerr != nil {
		return aerr
	}
	strategy, aerr := checkStrategy(trimmed(x.NotifyStrategy))
	if aerr != nil {
		return aerr
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	sub, aerr := t.subscription(topicName, name)
	if aerr != nil {
		return aerr
	}
	sub.strategy, sub.modifyMS = strategy, t.s.nowMS()
	t.s.writeXML(w, http.StatusNoContent, nil)
	return nil
}

// unsubscribe removes a subscription; its pending pushes end.
func (t *topicState) unsubscribe(w http.ResponseWriter, topicName, name string) *apiError {
	t.mu.Lock()
	sub, aerr := t.subscription(topicName, name)
	if aerr == nil {
		sub.end()
		delete(t.topics[topicName].subs, name)
	}
	t.mu.Unlock()
	if aerr != nil {
		return aerr
	}
	t.s.writeXML(w, http.StatusNoContent, nil)
	return nil
}

// subscription finds a subscription of a topic; t.mu must be held.
func (t *topicState) subscription(topicName, name string) (*subscription, *apiError) {
	tp := t.topics[topicName]
	if tp == nil {
		return nil, errTopicNotExist
	}
	sub := tp.subs[name]
	if sub == nil {
		return nil, errSubscriptionNotExist
	}
	return sub, nil
}

func (t *topicState) getSubscriptionAttributes(w http.ResponseWriter, topicName, name string) *apiError {
	t.mu.Lock()
	sub, aerr := t.subscription(topicName, name)
	if aerr != nil {
		t.mu.Unlock()
		return aerr
	}
	owner := t.s.cfg.AlicomUID
	d := newXMLDoc("Subscription")
	d.text("SubscriptionName", sub.name)
	d.text("Subscriber", owner)
	d.text("TopicOwner", owner)
	d.text("TopicName", sub.topic)
	d.text("Endpoint", sub.endpoint)
	d.text("NotifyStrategy", sub.strategy)
	d.text("NotifyContentFormat", sub.format)
	d.text("FilterTag", sub.filterTag)
	d.int("CreateTime", sub.createMS/1000)
	d.int("LastModifyTime", sub.modifyMS/1000)
	t.mu.Unlock()
	t.s.writeXML(w, http.StatusOK, d)
	return nil
}

// xmlPublish is a publish request.
type xmlPublish struct {
	MessageBody *string `xml:"MessageBody"`
	MessageTag  *string `xml:"MessageTag"`
}

// publish stores nothing (MNS topics keep no messages): it answers with the message id and
// MD5, and hands one push per matching subscription to the pusher.
func (t *topicState) publish(w http.ResponseWriter, topicName string, body []byte) *apiError {
	var x xmlPublish
	if rootElement(body) != "Message" || xml.Unmarshal(body, &x) != nil {
		return errMalformedXML
	}
	if x.MessageBody == nil || *x.MessageBody == "" {
		return invalidArgument("The MessageBody is missing or empty.")
	}
	tag := ""
	if x.MessageTag != nil {
		tag = *x.MessageTag
	}
	if len(tag) > maxMessageTagLen {
		return invalidArgument(fmt.Sprintf("The MessageTag is longer than %d characters.", maxMessageTagLen))
	}
	msg := publishedMessage{id: newMessageID(), body: *x.MessageBody, md5: bodyMD5(*x.MessageBody), tag: tag, publishMS: t.s.nowMS()}

	t.mu.Lock()
	tp := t.topics[topicName]
	if tp == nil {
		t.mu.Unlock()
		return errTopicNotExist
	}
	if n := int64(len(msg.body)); n > tp.maxMessageSize {
		t.mu.Unlock()
		return invalidArgument(fmt.Sprintf("The message body is %d bytes, more than the topic's MaximumMessageSize %d.", n, tp.maxMessageSize))
	}
	tp.messages++
	var targets []*subscription
	for _, sub := range tp.subs {
		if sub.filterTag == "" || sub.filterTag == tag {
			targets = append(targets, sub)
		}
	}
	var snapshots []subscription
	for _, sub := range targets {
		snapshots = append(snapshots, *sub)
	}
	t.mu.Unlock()

	for i, sub := range targets {
		t.push.enqueue(sub, snapshots[i], msg)
	}
	d := newXMLDoc("Message")
	d.text("MessageId", msg.id)
	d.text("MessageBodyMD5", msg.md5)
	t.s.writeXML(w, http.StatusCreated, d)
	return nil
}

// live reports whether sub still belongs to its topic.
func (t *topicState) live(sub *subscription) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !sub.gone
}
