package main

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
)

// lambdaHandler serves Lambda function URL invocations (provided.al2023).
func lambdaHandler(ep *mnspush.Endpoint) func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	return func(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		req, resp, ok := requestFromLambda(&ev)
		if !ok {
			return responseToLambda(resp), nil
		}
		return responseToLambda(ep.Handle(ctx, req)), nil
	}
}

// requestFromLambda converts a function URL event; rawPath and rawQueryString are the target
// as received. Lambda lower-cases header names and joins repeated headers with commas.
func requestFromLambda(ev *events.LambdaFunctionURLRequest) (req mnspush.Request, resp mnspush.Response, ok bool) {
	h := http.Header{}
	addHeaders(h, ev.Headers)
	req = mnspush.Request{
		Method:     strings.ToUpper(ev.RequestContext.HTTP.Method),
		Target:     ev.RawPath,
		Header:     h,
		Proto:      ev.RequestContext.HTTP.Protocol,
		RemoteAddr: ev.RequestContext.HTTP.SourceIP,
	}
	if !strings.HasPrefix(req.Target, "/") {
		req.Target = "/" + req.Target
	}
	if ev.RawQueryString != "" {
		req.Target += "?" + ev.RawQueryString
	}
	if h.Get("Host") == "" && ev.RequestContext.DomainName != "" {
		h.Set("Host", ev.RequestContext.DomainName)
	}
	body, err := eventBody(ev.Body, ev.IsBase64Encoded)
	if err != nil {
		return req, badEvent("body is marked base64 but does not decode"), false
	}
	req.Body = body
	return req, mnspush.Response{}, true
}

func responseToLambda(r mnspush.Response) events.LambdaFunctionURLResponse {
	return events.LambdaFunctionURLResponse{StatusCode: r.Status, Headers: flatten(r.Header), Body: r.Body}
}
