package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
)

// fcHandler serves Function Compute 3.0 HTTP trigger invocations (built-in go1 runtime).
func fcHandler(ep *mnspush.Endpoint) func(context.Context, events.HTTPTriggerEvent) (events.HTTPTriggerResponse, error) {
	return func(ctx context.Context, ev events.HTTPTriggerEvent) (events.HTTPTriggerResponse, error) {
		req, resp, ok := requestFromFC(&ev)
		if !ok {
			return responseToFC(resp), nil
		}
		return responseToFC(ep.Handle(ctx, req)), nil
	}
}

// requestFromFC converts an HTTP trigger event. rawPath is the path as received (still
// escaped), which is what MNS signed. FC hands over query parameters only as a decoded map,
// so a query string is rebuilt in sorted order; a subscription endpoint with a query may
// therefore fail verification on FC (use a plain path). When the event cannot be converted,
// ok is false and resp is the answer.
func requestFromFC(ev *events.HTTPTriggerEvent) (req mnspush.Request, resp mnspush.Response, ok bool) {
	h := http.Header{}
	if ev.Headers != nil {
		addHeaders(h, *ev.Headers)
	}
	hc := ev.TriggerContext.Http
	req = mnspush.Request{
		Method:     strings.ToUpper(str(hc.Method)),
		Target:     str(ev.RawPath),
		Header:     h,
		Proto:      str(hc.Protocol),
		RemoteAddr: str(hc.SourceIp),
	}
	if req.Target == "" {
		req.Target = str(hc.Path)
	}
	if !strings.HasPrefix(req.Target, "/") {
		req.Target = "/" + req.Target
	}
	if ev.QueryParameters != nil && len(*ev.QueryParameters) > 0 {
		req.Target += "?" + encodeSorted(*ev.QueryParameters)
	}
	if h.Get("Host") == "" && ev.TriggerContext.DomainName != nil {
		h.Set("Host", *ev.TriggerContext.DomainName)
	}
	if h.Get("User-Agent") == "" && hc.UserAgent != nil {
		h.Set("User-Agent", *hc.UserAgent)
	}
	body, err := eventBody(str(ev.Body), ev.IsBase64Encoded != nil && *ev.IsBase64Encoded)
	if err != nil {
		return req, badEvent("body is marked base64 but does not decode"), false
	}
	req.Body = body
	return req, mnspush.Response{}, true
}

func responseToFC(r mnspush.Response) events.HTTPTriggerResponse {
	return events.HTTPTriggerResponse{StatusCode: r.Status, Headers: flatten(r.Header), Body: r.Body}
}

// addHeaders copies a platform's single-valued header map, in sorted order so that the
// result does not depend on map iteration when a name appears in two spellings.
func addHeaders(h http.Header, m map[string]string) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		h.Add(k, m[k])
	}
}

func encodeSorted(m map[string]string) string {
	v := url.Values{}
	for k, val := range m {
		v.Set(k, val)
	}
	return v.Encode()
}

func eventBody(body string, isBase64 bool) ([]byte, error) {
	if !isBase64 {
		return []byte(body), nil
	}
	return base64.StdEncoding.DecodeString(body)
}

func flatten(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[k] = strings.Join(vs, ",")
	}
	return out
}

func badEvent(msg string) mnspush.Response {
	return mnspush.Response{
		Status: http.StatusBadRequest,
		Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:   msg + "\n",
	}
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
