package platform

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fc/messages"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/alicom-drain/alicom-drain/internal/token"
)

// startFC serves invocations through the FC runtime API until the process is stopped.
func startFC(h Handler, log *slog.Logger) {
	fc.Start(fcHandler(h, log))
}

// fcInvocation reads what FC says about the invocation. The function role's credentials of this
// invocation go into the context, where the token package's credential chain looks first.
func fcInvocation(ctx context.Context) (context.Context, Invocation) {
	inv := Invocation{Platform: FunctionCompute}
	if dl, ok := ctx.Deadline(); ok {
		inv.Deadline = dl
	}
	if fctx, ok := fccontext.FromContext(ctx); ok {
		inv.RequestID, inv.AccountID, inv.Region, inv.Function =
			fctx.RequestID, fctx.AccountId, fctx.Region, fctx.Function.Name
		if c := fctx.Credentials; c.AccessKeyId != "" {
			ctx = token.WithCredentials(ctx, token.Credentials{
				AccessKeyID: c.AccessKeyId, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken,
			})
			inv.RoleCredentials = true
		}
	}
	return WithRequestID(ctx, inv.RequestID), inv
}

// fcHandler converts an FC event invocation and its outcome.
func fcHandler(h Handler, log *slog.Logger) func(context.Context, json.RawMessage) (any, error) {
	return eventHandler(h, log, fcInvocation, fcErrorDocument)
}

func fcErrorDocument(typ, message string) error {
	return messages.InvokeResponse_Error{Type: typ, Message: message}
}

// failFC is the FC equivalent of Lambda's init error: the go1 runtime API has none, and a
// process that exits at start leaves only "process exited" in the invocation's answer. So the
// process stays up and fails every invocation with the start error, each as one JSON line.
func failFC(err error, log *slog.Logger) {
	fc.Start(func(ctx context.Context, _ json.RawMessage) (any, error) {
		ctx, _ = fcInvocation(ctx)
		return nil, invocationFailure(ctx, log, fcErrorDocument, err, nil)
	})
}

// fcHTTPHandler serves FC 3.0 HTTP trigger invocations (built-in go1 runtime) with h.
func fcHTTPHandler(h http.Handler, log *slog.Logger, opts HTTPOptions) func(context.Context, events.HTTPTriggerEvent) (events.HTTPTriggerResponse, error) {
	return httpEventHandler(h, log, opts, fcInvocation, requestFromFC,
		func(status int, headers map[string]string, body string, b64 bool) events.HTTPTriggerResponse {
			return events.HTTPTriggerResponse{StatusCode: status, Headers: headers, Body: body, IsBase64Encoded: b64}
		})
}

// requestFromFC converts an HTTP trigger event. rawPath is the path as received (still
// escaped), which is what a signer signed. FC hands over query parameters only as a decoded map,
// so the query string is rebuilt in sorted order; a signed URL with a query may therefore not
// verify on FC (use a plain path, or a query whose parameters are already sorted).
func requestFromFC(ctx context.Context, ev *events.HTTPTriggerEvent, opts HTTPOptions) (*http.Request, error) {
	hc := ev.TriggerContext.Http
	p := httpParts{
		method:   str(hc.Method),
		rawPath:  str(ev.RawPath),
		proto:    str(hc.Protocol),
		remote:   str(hc.SourceIp),
		body:     str(ev.Body),
		isBase64: ev.IsBase64Encoded != nil && *ev.IsBase64Encoded,
	}
	if p.rawPath == "" {
		p.rawPath = str(hc.Path)
	}
	if ev.Headers != nil {
		p.headers = *ev.Headers
	}
	if ev.QueryParameters != nil {
		p.query = encodeSorted(*ev.QueryParameters)
	}
	if ev.TriggerContext.DomainName != nil {
		p.host = *ev.TriggerContext.DomainName
	}
	p.userAgent = str(hc.UserAgent)
	return p.request(ctx, opts)
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func startFCHTTP(h http.Handler, o HTTPOptions) {
	fc.Start(fcHTTPHandler(h, o.Logger, o))
}
