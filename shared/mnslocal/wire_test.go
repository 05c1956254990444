package mnslocal

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var reRequestID = regexp.MustCompile(`^[0-9A-F]{24}$`)

func containsElem(body, name, value string) bool {
	return strings.Contains(body, "<"+name+">"+value+"</"+name+">")
}

// elem returns the text of the first <name> element of body.
func elem(body, name string) string {
	_, rest, ok := strings.Cut(body, "<"+name+">")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, "</"+name+">")
	return v
}

func sendRaw(t *testing.T, srv *Server, queue, body string) {
	t.Helper()
	resp := rawRequest{method: "POST", target: "/queues/" + queue + "/messages", body: body,
		header: map[string]string{"Content-Type": "text/xml"}}.do(t, srv)
	if resp.status != 201 {
		t.Fatalf("send: %d %s", resp.status, resp.body)
	}
}

func receiveRaw(t *testing.T, srv *Server, queue string) rawResponse {
	t.Helper()
	resp := rawRequest{method: "GET", target: "/queues/" + queue + "/messages"}.do(t, srv)
	if resp.status != 200 {
		t.Fatalf("receive: %d %s", resp.status, resp.body)
	}
	return resp
}

func TestWireResponseFormat(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	sendRaw(t, srv, "q", `<Message><MessageBody>a&amp;b</MessageBody><Priority>3</Priority></Message>`)
	resp := receiveRaw(t, srv, "q")

	wantPrefix := "<?xml version=\"1.0\" ?>\n<Message xmlns=\"http://mns.aliyuncs.com/doc/v1\">\n  <MessageId>"
	if !strings.HasPrefix(resp.body, wantPrefix) || !strings.HasSuffix(resp.body, "</Message>\n") {
		t.Fatalf("receive body layout:\n%s", resp.body)
	}
	for _, f := range []string{"MessageId", "ReceiptHandle", "MessageBodyMD5", "MessageBody", "EnqueueTime",
		"NextVisibleTime", "FirstDequeueTime", "DequeueCount", "Priority"} {
		if !strings.Contains(resp.body, "\n  <"+f+">") {
			t.Errorf("received message lacks <%s> at 2-space indentation:\n%s", f, resp.body)
		}
	}
	if elem(resp.body, "MessageBody") != "a&amp;b" || elem(resp.body, "Priority") != "3" || elem(resp.body, "MessageBodyMD5") != bodyMD5("a&b") {
		t.Errorf("fields: %s", resp.body)
	}
	h := resp.header
	if h.Get("Content-Type") != "text/xml;charset=utf-8" || h.Get("x-mns-version") != "2015-06-06" ||
		h.Get("Server") != "AliyunMQS" || h.Get("Date") == "" || !reRequestID.MatchString(h.Get("x-mns-request-id")) {
		t.Errorf("headers: %v", h)
	}

	// Errors carry all four children and the same namespace.
	e := rawRequest{method: "GET", target: "/queues/q/messages"}.do(t, srv)
	wantErr := "<?xml version=\"1.0\" ?>\n<Error xmlns=\"http://mns.aliyuncs.com/doc/v1\">\n" +
		"  <Code>MessageNotExist</Code>\n  <Message>Message not exist.</Message>\n" +
		"  <RequestId>" + e.header.Get("x-mns-request-id") + "</RequestId>\n" +
		"  <HostId>http://" + fakeHost + "</HostId>\n</Error>\n"
	if e.status != 404 || e.body != wantErr {
		t.Fatalf("error answer %d:\n%s\nwant:\n%s", e.status, e.body, wantErr)
	}
	if e.header.Get("Content-Type") != "text/xml;charset=utf-8" {
		t.Fatalf("error Content-Type %q", e.header.Get("Content-Type"))
	}
}

func TestWireAcceptsEveryClientVariation(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	const body = `<Message><MessageBody>v</MessageBody><Priority>8</Priority></Message>`
	sends := []struct {
		name   string
		body   string
		header map[string]string
	}{
		{"Java: no Content-MD5, text/xml;charset=UTF-8, namespace without slash",
			`<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1"><MessageBody>v</MessageBody><Priority>8</Priority></Message>`,
			map[string]string{"Content-Type": "text/xml;charset=UTF-8"}},
		{"Python and Node: hex MD5 in base64, namespace with slash",
			`<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>v</MessageBody><DelaySeconds>0</DelaySeconds><Priority>8</Priority></Message>`,
			map[string]string{"Content-Type": "text/xml", "Content-MD5": "x"}},
		{"old Go client: raw MD5 in base64, no namespace",
			body, map[string]string{"Content-Type": "application/xml", "Content-MD5": rawMD5Base64(body)}},
		{"no Content-Type at all", body, nil},
	}
	for _, s := range sends {
		t.Run(s.name, func(t *testing.T) {
			h := s.header
			if h != nil && h["Content-MD5"] == "x" {
				h["Content-MD5"] = hexMD5Base64(s.body)
			}
			resp := rawRequest{method: "POST", target: "/queues/q/messages", body: s.body, header: h}.do(t, srv)
			if resp.status != 201 {
				t.Fatalf("got %d %s", resp.status, resp.body)
			}
		})
	}

	for range 3 { // the subtests below consume seven messages
		if _, err := srv.SendMessage("q", "more"); err != nil {
			t.Fatal(err)
		}
	}
	receipt := func(t *testing.T) string {
		t.Helper()
		h := elem(receiveRaw(t, srv, "q").body, "ReceiptHandle")
		if !strings.ContainsAny(h, "+/=") {
			t.Fatalf("handle %q lacks the characters this test is about", h)
		}
		return h
	}
	handles := []struct {
		name  string
		query func(h string) string
	}{
		{"a raw handle (Java, Python, Node)", func(h string) string { return "ReceiptHandle=" + h }},
		{"a query-escaped handle (Go SDK, PHP)", func(h string) string { return "ReceiptHandle=" + url.QueryEscape(h) }},
		{"a lower-case receiptHandle parameter", func(h string) string { return "receiptHandle=" + url.PathEscape(h) }},
	}
	for _, hc := range handles {
		t.Run("delete with "+hc.name, func(t *testing.T) {
			resp := rawRequest{method: "DELETE", target: "/queues/q/messages?" + hc.query(receipt(t))}.do(t, srv)
			if resp.status != 204 || resp.body != "" {
				t.Fatalf("got %d %q", resp.status, resp.body)
			}
		})
	}
	t.Run("change visibility with lower-case parameters and a raw handle", func(t *testing.T) {
		resp := rawRequest{method: "PUT", target: "/queues/q/messages?receiptHandle=" + receipt(t) + "&visibilityTimeout=10"}.do(t, srv)
		if resp.status != 200 || !strings.HasPrefix(resp.body, "<?xml version=\"1.0\" ?>\n<ChangeVisibility xmlns=\"http://mns.aliyuncs.com/doc/v1\">") {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
	})
	t.Run("a handle whose '+' a client turned into a space is refused, not misread", func(t *testing.T) {
		h := strings.ReplaceAll(receipt(t), "+", " ")
		resp := rawRequest{method: "DELETE", target: "/queues/q/messages?ReceiptHandle=" + url.PathEscape(h)}.do(t, srv)
		if resp.status != 400 || !containsElem(resp.body, "Code", "ReceiptHandleError") {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
	})
	t.Run("a batch delete body with the Python namespace", func(t *testing.T) {
		h := receipt(t)
		b := `<?xml version="1.0" encoding="UTF-8"?><ReceiptHandles xmlns="http://mns.aliyuncs.com/doc/v1/"><ReceiptHandle>` + h + `</ReceiptHandle></ReceiptHandles>`
		resp := rawRequest{method: "DELETE", target: "/queues/q/messages", body: b, header: map[string]string{"Content-Type": "text/xml"}}.do(t, srv)
		if resp.status != 204 {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
	})
}

func TestWirePartialFailures(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	b := `<Messages><Message><MessageBody>ok</MessageBody><Priority>8</Priority></Message>` +
		`<Message><MessageBody>bad</MessageBody><Priority>0</Priority></Message></Messages>`
	resp := rawRequest{method: "POST", target: "/queues/q/messages", body: b}.do(t, srv)
	if resp.status != 400 || strings.Count(resp.body, "<Message>") != 2 ||
		!containsElem(resp.body, "ErrorCode", "InvalidArgument") || elem(resp.body, "MessageId") == "" {
		t.Fatalf("partial batch send: %d %s", resp.status, resp.body)
	}
	if strings.Index(resp.body, "<MessageId>") > strings.Index(resp.body, "<ErrorCode>") {
		t.Fatalf("entries are not in request order: %s", resp.body)
	}
	if st := srv.Stats().Queues["q"]; st.Active != 1 {
		t.Fatalf("the valid message of a partial batch was not sent: %+v", st)
	}

	h := elem(receiveRaw(t, srv, "q").body, "ReceiptHandle")
	stale := newReceiptHandle(newMessageID())
	del := `<ReceiptHandles><ReceiptHandle>` + h + `</ReceiptHandle><ReceiptHandle>` + stale + `</ReceiptHandle></ReceiptHandles>`
	resp = rawRequest{method: "DELETE", target: "/queues/q/messages", body: del}.do(t, srv)
	want := "<Errors xmlns=\"http://mns.aliyuncs.com/doc/v1\">\n  <Error>\n    <ErrorCode>MessageNotExist</ErrorCode>\n" +
		"    <ErrorMessage>Message not exist.</ErrorMessage>\n    <ReceiptHandle>" + stale + "</ReceiptHandle>\n  </Error>\n</Errors>\n"
	if resp.status != 404 || !strings.HasSuffix(resp.body, want) {
		t.Fatalf("partial batch delete: %d\n%s\nwant suffix\n%s", resp.status, resp.body, want)
	}
	if st := srv.Stats().Queues["q"]; st.Deleted != 1 || st.Inactive != 0 {
		t.Fatalf("the good handle of a partial batch delete was not deleted: %+v", st)
	}
}

func TestWireQueueManagement(t *testing.T) {
	srv := newTestServer(t, Config{MessageTypes: []string{}})
	resp := rawRequest{method: "PUT", target: "/queues/made", body: `<Queue xmlns="http://mns.aliyuncs.com/doc/v1/"><VisibilityTimeout>60</VisibilityTimeout></Queue>`}.do(t, srv)
	if resp.status != 201 || resp.header.Get("Location") != "http://"+fakeHost+"/queues/made" {
		t.Fatalf("create: %d %v", resp.status, resp.header)
	}
	resp = rawRequest{method: "PUT", target: "/queues/made", body: `<Queue><VisibilityTimeout>60</VisibilityTimeout></Queue>`}.do(t, srv)
	if resp.status != 204 {
		t.Fatalf("create again with the same attributes: %d %s", resp.status, resp.body)
	}
	resp = rawRequest{method: "PUT", target: "/queues/made", body: `<Queue/>`}.do(t, srv)
	if resp.status != 409 || !containsElem(resp.body, "Code", "QueueAlreadyExist") {
		t.Fatalf("create again with other attributes: %d %s", resp.status, resp.body)
	}
	resp = rawRequest{method: "PUT", target: "/queues/1bad"}.do(t, srv)
	if resp.status != 400 || !containsElem(resp.body, "Code", "InvalidQueueName") {
		t.Fatalf("create with a bad name: %d %s", resp.status, resp.body)
	}
	resp = rawRequest{method: "PUT", target: "/queues/x", body: `<Queue><VisibilityTimeout>0</VisibilityTimeout></Queue>`}.do(t, srv)
	if resp.status != 400 || !containsElem(resp.body, "Code", "InvalidArgument") {
		t.Fatalf("create with visibility 0: %d %s", resp.status, resp.body)
	}
	resp = rawRequest{method: "GET", target: "/queues/made"}.do(t, srv)
	for _, f := range []string{"QueueName", "CreateTime", "LastModifyTime", "VisibilityTimeout", "MaximumMessageSize",
		"MessageRetentionPeriod", "DelaySeconds", "PollingWaitSeconds", "ActiveMessages", "InactiveMessages",
		"DelayMessages", "LoggingEnabled"} {
		if elem(resp.body, f) == "" {
			t.Errorf("GetQueueAttributes lacks %s: %s", f, resp.body)
		}
	}
	if elem(resp.body, "LoggingEnabled") != "False" || elem(resp.body, "VisibilityTimeout") != "60" {
		t.Errorf("GetQueueAttributes: %s", resp.body)
	}
	resp = rawRequest{method: "DELETE", target: "/queues/made"}.do(t, srv)
	if resp.status != 204 {
		t.Fatalf("delete: %d %s", resp.status, resp.body)
	}
	resp = rawRequest{method: "DELETE", target: "/queues/made"}.do(t, srv)
	if resp.status != 404 || !containsElem(resp.body, "Code", "QueueNotExist") {
		t.Fatalf("delete again: %d %s", resp.status, resp.body)
	}
}

func TestWireTopicsAnswerTopicNotExistForNow(t *testing.T) {
	srv := newTestServer(t, Config{})
	resp := rawRequest{method: "POST", target: "/topics/t/messages", body: `<Message><MessageBody>x</MessageBody></Message>`}.do(t, srv)
	if resp.status != 404 || !containsElem(resp.body, "Code", "TopicNotExist") || !strings.Contains(resp.body, `xmlns="http://mns.aliyuncs.com/doc/v1"`) {
		t.Fatalf("got %d %s", resp.status, resp.body)
	}
	if n := srv.Stats().Requests["PublishMessage"]; n != 1 {
		t.Fatalf("PublishMessage counted %d times, want 1", n)
	}
}
