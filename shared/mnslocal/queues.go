package mnslocal

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MNS limits (see the protocol reference).
const (
	maxBatch          = 16
	maxWaitSeconds    = 30
	maxDelaySeconds   = 604800
	maxVisibility     = 43200
	maxBatchSendBytes = 65536
)

// queueOperation names the operation of a request under /queues. It looks at the body
// only to tell SendMessage from BatchSendMessage.
func queueOperation(method string, segs []string, rawQuery string, body []byte) string {
	switch len(segs) {
	case 1:
		if method == http.MethodGet {
			return "ListQueue"
		}
	case 2:
		switch method {
		case http.MethodPut:
			if strings.EqualFold(parseMNSQuery(rawQuery)["metaoverride"], "true") {
				return "SetQueueAttributes"
			}
			return "CreateQueue"
		case http.MethodGet:
			return "GetQueueAttributes"
		case http.MethodDelete:
			return "DeleteQueue"
		}
	case 3:
		if segs[2] != "messages" {
			return opUnknown
		}
		q := parseMNSQuery(rawQuery)
		switch method {
		case http.MethodPost:
			if rootElement(body) == "Messages" {
				return "BatchSendMessage"
			}
			return "SendMessage"
		case http.MethodGet:
			_, batch := q["numofmessages"]
			if strings.EqualFold(q["peekonly"], "true") {
				if batch {
					return "BatchPeekMessage"
				}
				return "PeekMessage"
			}
			if batch {
				return "BatchReceiveMessage"
			}
			return "ReceiveMessage"
		case http.MethodDelete:
			if _, ok := q["receipthandle"]; ok {
				return "DeleteMessage"
			}
			return "BatchDeleteMessage"
		case http.MethodPut:
			return "ChangeMessageVisibility"
		}
	}
	return opUnknown
}

// serveQueues runs an authenticated, authorized queue operation.
func (s *Server) serveQueues(w http.ResponseWriter, r *http.Request, op string, segs []string, body []byte) {
	if op == "ListQueue" {
		s.listQueues(w, r)
		return
	}
	if op == opUnknown {
		s.writeError(w, r, 400, "InvalidRequestURL", "The requested URL or method is not a queue operation.")
		return
	}
	name := segs[1]
	if op == "CreateQueue" {
		s.createQueueHTTP(w, r, name, body)
		return
	}
	q := s.queue(name)
	if q == nil {
		s.writeAPIError(w, r, errQueueNotExist)
		return
	}
	params := mnsQuery(r)
	var err *apiError
	switch op {
	case "SetQueueAttributes":
		err = s.setQueueAttributes(w, q, body)
	case "GetQueueAttributes":
		s.getQueueAttributes(w, q)
	case "DeleteQueue":
		s.deleteQueue(w, q)
	case "SendMessage":
		err = s.sendMessage(w, q, body)
	case "BatchSendMessage":
		err = s.batchSendMessage(w, q, body)
	case "ReceiveMessage", "BatchReceiveMessage":
		err = s.receiveMessage(w, r, q, params, op == "BatchReceiveMessage")
	case "PeekMessage", "BatchPeekMessage":
		err = s.peekMessage(w, q, params, op == "BatchPeekMessage")
	case "DeleteMessage":
		err = s.deleteMessage(w, q, params)
	case "BatchDeleteMessage":
		err = s.batchDeleteMessage(w, q, body)
	case "ChangeMessageVisibility":
		err = s.changeVisibility(w, q, params)
	}
	if err != nil {
		s.writeAPIError(w, r, err)
	}
}

// xmlMessage is a message in a send request. Fields are pointers to tell absent from
// empty; tags carry no namespace so any of the namespaces clients send matches.
type xmlMessage struct {
	MessageBody  *string `xml:"MessageBody"`
	DelaySeconds *string `xml:"DelaySeconds"`
	Priority     *string `xml:"Priority"`
}

type xmlMessages struct {
	Messages []xmlMessage `xml:"Message"`
}

// sendSpec is a validated message to enqueue.
type sendSpec struct {
	body     string
	delay    int64 // -1: the queue default
	priority int
}

// validate checks one message against the queue limits.
func (m xmlMessage) validate(maxSize int64) (sendSpec, *apiError) {
	sp := sendSpec{delay: -1, priority: 8}
	if m.MessageBody == nil || *m.MessageBody == "" {
		return sp, invalidArgument("The MessageBody is missing or empty.")
	}
	sp.body = *m.MessageBody
	if n := int64(len(sp.body)); n > maxSize {
		return sp, invalidArgument(fmt.Sprintf("The message body is %d bytes, more than the queue's MaximumMessageSize %d.", n, maxSize))
	}
	if m.DelaySeconds != nil {
		v, err := parseIntIn(*m.DelaySeconds, "DelaySeconds", 0, maxDelaySeconds)
		if err != nil {
			return sp, err
		}
		sp.delay = v
	}
	if m.Priority != nil {
		v, err := parseIntIn(*m.Priority, "Priority", 1, 16)
		if err != nil {
			return sp, err
		}
		sp.priority = int(v)
	}
	return sp, nil
}

// parseIntIn parses a decimal in [lo, hi] or names the field and the range.
func parseIntIn(s, name string, lo, hi int64) (int64, *apiError) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, invalidArgument(fmt.Sprintf("The value of %s should be an integer between %d and %d, got %q.", name, lo, hi, s))
	}
	return v, nil
}

func (s *Server) sendMessage(w http.ResponseWriter, q *queue, body []byte) *apiError {
	var m xmlMessage
	if rootElement(body) != "Message" || xml.Unmarshal(body, &m) != nil {
		return errMalformedXML
	}
	q.mu.Lock()
	if q.gone {
		q.mu.Unlock()
		return errQueueNotExist
	}
	sp, err := m.validate(q.attrs.MaximumMessageSize)
	if err != nil {
		q.mu.Unlock()
		return err
	}
	v := q.add(sp.body, sp.delay, sp.priority, s.nowMS())
	q.mu.Unlock()
	d := newXMLDoc("Message")
	d.text("MessageId", v.id)
	d.text("MessageBodyMD5", v.bodyMD5)
	s.writeXML(w, http.StatusCreated, d)
	return nil
}

func (s *Server) batchSendMessage(w http.ResponseWriter, q *queue, body []byte) *apiError {
	var ms xmlMessages
	if xml.Unmarshal(body, &ms) != nil {
		return errMalformedXML
	}
	if len(ms.Messages) == 0 || len(ms.Messages) > maxBatch {
		return invalidArgument(fmt.Sprintf("The count of messages should be between 1 and %d, got %d.", maxBatch, len(ms.Messages)))
	}
	total := 0
	for _, m := range ms.Messages {
		if m.MessageBody != nil {
			total += len(*m.MessageBody)
		}
	}
	if total > maxBatchSendBytes {
		return invalidArgument(fmt.Sprintf("The total size of the messages is %d bytes, more than %d.", total, maxBatchSendBytes))
	}
	type result struct {
		v   msgView
		err *apiError
	}
	results := make([]result, len(ms.Messages))
	failed := false
	q.mu.Lock()
	if q.gone {
		q.mu.Unlock()
		return errQueueNotExist
	}
	nowMS := s.nowMS()
	for i, m := range ms.Messages {
		sp, err := m.validate(q.attrs.MaximumMessageSize)
		if err != nil {
			results[i].err = err
			failed = true
			continue
		}
		results[i].v = q.add(sp.body, sp.delay, sp.priority, nowMS)
	}
	q.mu.Unlock()
	d := newXMLDoc("Messages")
	for _, res := range results {
		d.open("Message")
		if res.err != nil {
			d.text("ErrorCode", res.err.code)
			d.text("ErrorMessage", res.err.msg)
		} else {
			d.text("MessageId", res.v.id)
			d.text("MessageBodyMD5", res.v.bodyMD5)
		}
		d.close()
	}
	status := http.StatusCreated
	if failed {
		// The valid messages were sent; the answer lists every entry in request order.
		status = http.StatusBadRequest
	}
	s.writeXML(w, status, d)
	return nil
}

// receiveMessage long-polls for up to numOfMessages messages.
func (s *Server) receiveMessage(w http.ResponseWriter, r *http.Request, q *queue, p mnsParams, batch bool) *apiError {
	n := int64(1)
	if batch {
		var err *apiError
		if n, err = parseIntIn(p["numofmessages"], "numOfMessages", 1, maxBatch); err != nil {
			return err
		}
	}
	q.mu.Lock()
	wait := q.attrs.PollingWaitSeconds
	q.mu.Unlock()
	if v, ok := p["waitseconds"]; ok {
		var err *apiError
		if wait, err = parseIntIn(v, "waitseconds", 0, maxWaitSeconds); err != nil {
			return err
		}
	}
	msgs, err := s.receiveWait(r.Context(), q, int(n), time.Duration(wait)*time.Second)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return errMessageNotExist
	}
	s.writeMessages(w, msgs, batch, false)
	return nil
}

// receiveWait receives up to n messages, waiting up to wait for the first one. It wakes
// when a message is sent, when a delayed or inactive message becomes visible, when the
// client goes away or when the server closes: never by polling.
func (s *Server) receiveWait(ctx context.Context, q *queue, n int, wait time.Duration) ([]msgView, *apiError) {
	deadline := time.Now().Add(wait)
	for {
		q.mu.Lock()
		if q.gone {
			q.mu.Unlock()
			return nil, errQueueNotExist
		}
		nowMS := s.nowMS()
		msgs := q.receive(n, nowMS)
		remaining := time.Until(deadline)
		if len(msgs) > 0 || remaining <= 0 {
			q.mu.Unlock()
			return msgs, nil
		}
		ch := q.waitChan()
		if next := q.nextTimedMS(); next > 0 {
			if d := max(time.Duration(next-nowMS)*time.Millisecond, time.Millisecond); d < remaining {
				remaining = d
			}
		}
		q.mu.Unlock()
		t := time.NewTimer(remaining)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-s.closing:
			t.Stop()
			return nil, nil
		}
		t.Stop()
	}
}

func (s *Server) writeMessages(w http.ResponseWriter, msgs []msgView, batch, peek bool) {
	var d *xmlDoc
	if batch {
		d = newXMLDoc("Messages")
		for _, m := range msgs {
			d.open("Message")
			writeMessageFields(d, m, peek)
			d.close()
		}
	} else {
		d = newXMLDoc("Message")
		writeMessageFields(d, msgs[0], peek)
	}
	s.writeXML(w, http.StatusOK, d)
}

// writeMessageFields writes every field of a received message (Python requires them all);
// a peeked message has no receipt handle and no next visible time.
func writeMessageFields(d *xmlDoc, m msgView, peek bool) {
	d.text("MessageId", m.id)
	if !peek {
		d.text("ReceiptHandle", m.handle)
	}
	d.text("MessageBodyMD5", m.bodyMD5)
	d.text("MessageBody", m.body)
	d.int("EnqueueTime", m.enqueueMS)
	if !peek {
		d.int("NextVisibleTime", m.nextVisMS)
	}
	d.int("FirstDequeueTime", m.firstDeqMS)
	d.int("DequeueCount", m.dequeueCount)
	d.int("Priority", int64(m.priority))
}

func (s *Server) peekMessage(w http.ResponseWriter, q *queue, p mnsParams, batch bool) *apiError {
	n := int64(1)
	if batch {
		var err *apiError
		if n, err = parseIntIn(p["numofmessages"], "numOfMessages", 1, maxBatch); err != nil {
			return err
		}
	}
	q.mu.Lock()
	msgs := q.peek(int(n), s.nowMS())
	q.mu.Unlock()
	if len(msgs) == 0 {
		return errMessageNotExist
	}
	s.writeMessages(w, msgs, batch, true)
	return nil
}

func (s *Server) deleteMessage(w http.ResponseWriter, q *queue, p mnsParams) *apiError {
	h := p["receipthandle"]
	if h == "" {
		return errf(400, "MissingReceiptHandle", "The ReceiptHandle parameter is missing.")
	}
	q.mu.Lock()
	e := q.deleteByHandle(h, s.nowMS())
	q.mu.Unlock()
	if err := handleError(e); err != nil {
		return err
	}
	s.writeXML(w, http.StatusNoContent, nil)
	return nil
}

func handleError(e handleErr) *apiError {
	switch e {
	case handleMalformed:
		return errHandleMalformed
	case handleStale:
		return errMessageNotExist
	}
	return nil
}

type xmlReceiptHandles struct {
	Handles []string `xml:"ReceiptHandle"`
}

// batchDeleteMessage deletes what it can; failures are listed, the rest is deleted.
func (s *Server) batchDeleteMessage(w http.ResponseWriter, q *queue, body []byte) *apiError {
	var hs xmlReceiptHandles
	if rootElement(body) != "ReceiptHandles" || xml.Unmarshal(body, &hs) != nil {
		return errMalformedXML
	}
	if len(hs.Handles) == 0 {
		return errf(400, "MissingReceiptHandle", "The request lists no ReceiptHandle.")
	}
	if len(hs.Handles) > maxBatch {
		return invalidArgument(fmt.Sprintf("The count of receipt handles should be between 1 and %d, got %d.", maxBatch, len(hs.Handles)))
	}
	fails := make([]handleErr, len(hs.Handles))
	failed := false
	q.mu.Lock()
	nowMS := s.nowMS()
	for i, h := range hs.Handles {
		fails[i] = q.deleteByHandle(strings.TrimSpace(h), nowMS)
		failed = failed || fails[i] != handleOK
	}
	q.mu.Unlock()
	if !failed {
		s.writeXML(w, http.StatusNoContent, nil)
		return nil
	}
	d := newXMLDoc("Errors")
	for i, e := range fails {
		if e == handleOK {
			continue
		}
		err := handleError(e)
		d.open("Error")
		d.text("ErrorCode", err.code)
		d.text("ErrorMessage", err.msg)
		d.text("ReceiptHandle", hs.Handles[i])
		d.close()
	}
	s.writeXML(w, http.StatusNotFound, d)
	return nil
}

func (s *Server) changeVisibility(w http.ResponseWriter, q *queue, p mnsParams) *apiError {
	h := p["receipthandle"]
	if h == "" {
		return errf(400, "MissingReceiptHandle", "The ReceiptHandle parameter is missing.")
	}
	vs, ok := p["visibilitytimeout"]
	if !ok || vs == "" {
		return errf(400, "MissingVisibilityTimeout", "The VisibilityTimeout parameter is missing.")
	}
	vis, err := parseIntIn(vs, "VisibilityTimeout", 1, maxVisibility)
	if err != nil {
		return err
	}
	q.mu.Lock()
	nh, next, e := q.changeVisibility(h, vis, s.nowMS())
	q.mu.Unlock()
	if err := handleError(e); err != nil {
		return err
	}
	d := newXMLDoc("ChangeVisibility")
	d.text("ReceiptHandle", nh)
	d.int("NextVisibleTime", next)
	s.writeXML(w, http.StatusOK, d)
	return nil
}

// xmlQueue holds queue attributes of a create or set request; absent fields stay nil.
type xmlQueue struct {
	VisibilityTimeout      *string `xml:"VisibilityTimeout"`
	MaximumMessageSize     *string `xml:"MaximumMessageSize"`
	MessageRetentionPeriod *string `xml:"MessageRetentionPeriod"`
	DelaySeconds           *string `xml:"DelaySeconds"`
	PollingWaitSeconds     *string `xml:"PollingWaitSeconds"`
	LoggingEnabled         *string `xml:"LoggingEnabled"`
}

// apply validates the present attributes and sets them on a.
func (x xmlQueue) apply(a *queueAttrs) *apiError {
	fields := []struct {
		v      *string
		name   string
		lo, hi int64
		dst    *int64
	}{
		{x.VisibilityTimeout, "VisibilityTimeout", 1, maxVisibility, &a.VisibilityTimeout},
		{x.MaximumMessageSize, "MaximumMessageSize", 1024, 65536, &a.MaximumMessageSize},
		{x.MessageRetentionPeriod, "MessageRetentionPeriod", 60, 604800, &a.MessageRetentionPeriod},
		{x.DelaySeconds, "DelaySeconds", 0, maxDelaySeconds, &a.DelaySeconds},
		{x.PollingWaitSeconds, "PollingWaitSeconds", 0, maxWaitSeconds, &a.PollingWaitSeconds},
	}
	for _, f := range fields {
		if f.v == nil || strings.TrimSpace(*f.v) == "" {
			continue
		}
		v, err := parseIntIn(*f.v, f.name, f.lo, f.hi)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	if x.LoggingEnabled != nil && strings.TrimSpace(*x.LoggingEnabled) != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(*x.LoggingEnabled))
		if err != nil {
			return invalidArgument(fmt.Sprintf("The value of LoggingEnabled should be True or False, got %q.", *x.LoggingEnabled))
		}
		a.LoggingEnabled = b
	}
	return nil
}

func parseQueueBody(body []byte) (xmlQueue, *apiError) {
	var x xmlQueue
	if len(strings.TrimSpace(string(body))) == 0 {
		return x, nil
	}
	if rootElement(body) != "Queue" || xml.Unmarshal(body, &x) != nil {
		return x, errMalformedXML
	}
	return x, nil
}

// createQueueHTTP answers 201 for a new queue, 204 when it exists with the same
// attributes and 409 QueueAlreadyExist when they differ.
func (s *Server) createQueueHTTP(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	if err := checkQueueName(name); err != nil {
		s.writeError(w, r, 400, "InvalidQueueName", "The queue name you provided is invalid: "+err.Error()+".")
		return
	}
	x, aerr := parseQueueBody(body)
	if aerr != nil {
		s.writeAPIError(w, r, aerr)
		return
	}
	attrs := defaultQueueAttrs()
	if aerr := x.apply(&attrs); aerr != nil {
		s.writeAPIError(w, r, aerr)
		return
	}
	s.qmu.Lock()
	existing := s.queues[name]
	if existing == nil {
		s.queues[name] = newQueue(name, attrs, s.nowMS())
	}
	s.qmu.Unlock()
	if existing != nil {
		existing.mu.Lock()
		same := existing.attrs == attrs
		existing.mu.Unlock()
		if same {
			s.writeXML(w, http.StatusNoContent, nil)
		} else {
			s.writeError(w, r, 409, "QueueAlreadyExist", "The queue you want to create is already exist.")
		}
		return
	}
	w.Header().Set("Location", hostID(r)+"/queues/"+name)
	s.writeXML(w, http.StatusCreated, nil)
}

func (s *Server) setQueueAttributes(w http.ResponseWriter, q *queue, body []byte) *apiError {
	x, err := parseQueueBody(body)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.attrs
	if err := x.apply(&a); err != nil {
		return err
	}
	q.attrs = a
	q.modifyMS = s.nowMS()
	q.notify() // PollingWaitSeconds or visibility may have changed
	s.writeXML(w, http.StatusNoContent, nil)
	return nil
}

func (s *Server) getQueueAttributes(w http.ResponseWriter, q *queue) {
	d := newXMLDoc("Queue")
	writeQueueFields(d, q, s.nowMS())
	s.writeXML(w, http.StatusOK, d)
}

// writeQueueFields writes every attribute the Python SDK requires.
func writeQueueFields(d *xmlDoc, q *queue, nowMS int64) {
	q.mu.Lock()
	a := q.attrs
	active, inactive, delayed := q.counts(nowMS)
	created, modified := q.createMS, q.modifyMS
	q.mu.Unlock()
	d.text("QueueName", q.name)
	d.int("CreateTime", created/1000)
	d.int("LastModifyTime", modified/1000)
	d.int("VisibilityTimeout", a.VisibilityTimeout)
	d.int("MaximumMessageSize", a.MaximumMessageSize)
	d.int("MessageRetentionPeriod", a.MessageRetentionPeriod)
	d.int("DelaySeconds", a.DelaySeconds)
	d.int("PollingWaitSeconds", a.PollingWaitSeconds)
	d.int("ActiveMessages", active)
	d.int("InactiveMessages", inactive)
	d.int("DelayMessages", delayed)
	if a.LoggingEnabled {
		d.text("LoggingEnabled", "True")
	} else {
		d.text("LoggingEnabled", "False")
	}
}

func (s *Server) deleteQueue(w http.ResponseWriter, q *queue) {
	s.qmu.Lock()
	if s.queues[q.name] == q {
		delete(s.queues, q.name)
	}
	s.qmu.Unlock()
	q.mu.Lock()
	q.gone = true
	q.notify()
	q.mu.Unlock()
	s.writeXML(w, http.StatusNoContent, nil)
}

// listQueues answers ListQueue: x-mns-prefix, x-mns-marker (the first name to list),
// x-mns-ret-number (1..1000) and x-mns-with-meta.
func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	prefix := r.Header.Get("x-mns-prefix")
	marker := r.Header.Get("x-mns-marker")
	limit := int64(1000)
	if v := r.Header.Get("x-mns-ret-number"); v != "" {
		var err *apiError
		if limit, err = parseIntIn(v, "x-mns-ret-number", 1, 1000); err != nil {
			s.writeAPIError(w, r, err)
			return
		}
	}
	withMeta := strings.EqualFold(r.Header.Get("x-mns-with-meta"), "true")
	names := s.queueNames()
	var picked []string
	next := ""
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) || n < marker {
			continue
		}
		if int64(len(picked)) == limit {
			next = n
			break
		}
		picked = append(picked, n)
	}
	sort.Strings(picked)
	d := newXMLDoc("Queues")
	nowMS := s.nowMS()
	for _, n := range picked {
		d.open("Queue")
		d.text("QueueURL", hostID(r)+"/queues/"+n)
		if withMeta {
			if q := s.queue(n); q != nil {
				writeQueueFields(d, q, nowMS)
			}
		}
		d.close()
	}
	if next != "" {
		d.text("NextMarker", next)
	}
	s.writeXML(w, http.StatusOK, d)
}
