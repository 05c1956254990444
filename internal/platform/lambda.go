package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// startLambda serves invocations through the Lambda runtime API until the process is stopped.
func startLambda(h Handler, log *slog.Logger) {
	lambda.Start(lambdaHandler(h, log))
}

func lambdaInvocation(ctx context.Context) (context.Context, Invocation) {
	inv := Invocation{Platform: Lambda, Region: os.Getenv("AWS_REGION"), Function: lambdacontext.FunctionName}
	if dl, ok := ctx.Deadline(); ok {
		inv.Deadline = dl
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		inv.RequestID = lc.AwsRequestID
		if inv.Function == "" {
			// arn:aws:lambda:region:account:function:name[:qualifier]
			if parts := strings.Split(lc.InvokedFunctionArn, ":"); len(parts) >= 7 {
				inv.Function = parts[6]
			}
		}
	}
	return WithRequestID(ctx, inv.RequestID), inv
}

// lambdaHandler converts a Lambda event invocation and its outcome. Alibaba Cloud credentials
// come from the environment or Secrets Manager there, read by the token package.
func lambdaHandler(h Handler, log *slog.Logger) func(context.Context, json.RawMessage) (any, error) {
	return eventHandler(h, log, lambdaInvocation, lambdaErrorDocument)
}

func lambdaErrorDocument(typ, message string) error {
	return messages.InvokeResponse_Error{Type: typ, Message: message}
}

// failLambda reports an error found at start to the runtime API's init error endpoint, so the
// invocation that started the instance answers with it instead of an empty 502, then exits as
// the runtime API asks.
func failLambda(err error, log *slog.Logger, exit func(int)) {
	body, _ := json.Marshal(messages.InvokeResponse_Error{Type: string(TypeOf(err)), Message: err.Error()})
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	req, rerr := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if rerr == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Lambda-Runtime-Function-Error-Type", string(TypeOf(err)))
		client := &http.Client{Timeout: 5 * time.Second}
		resp, perr := client.Do(req)
		if perr == nil {
			resp.Body.Close()
		} else {
			log.Warn("the init error did not reach the runtime API", "error", perr.Error())
		}
	}
	exit(2)
}

// lambdaHTTPHandler serves Lambda function URL invocations with h.
func lambdaHTTPHandler(h http.Handler, log *slog.Logger, opts HTTPOptions) func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	return httpEventHandler(h, log, opts, lambdaInvocation, requestFromLambda,
		func(status int, headers map[string]string, body string, b64 bool) events.LambdaFunctionURLResponse {
			return events.LambdaFunctionURLResponse{StatusCode: status, Headers: headers, Body: body, IsBase64Encoded: b64}
		})
}

// requestFromLambda converts a function URL event; rawPath and rawQueryString are the target as
// received. Lambda lower-cases header names and joins repeated headers with commas.
func requestFromLambda(ctx context.Context, ev *events.LambdaFunctionURLRequest, opts HTTPOptions) (*http.Request, error) {
	p := httpParts{
		method:    ev.RequestContext.HTTP.Method,
		rawPath:   ev.RawPath,
		query:     ev.RawQueryString,
		headers:   ev.Headers,
		host:      ev.RequestContext.DomainName,
		proto:     ev.RequestContext.HTTP.Protocol,
		remote:    ev.RequestContext.HTTP.SourceIP,
		userAgent: ev.RequestContext.HTTP.UserAgent,
		body:      ev.Body,
		isBase64:  ev.IsBase64Encoded,
	}
	return p.request(ctx, opts)
}

func startLambdaHTTP(h http.Handler, o HTTPOptions) {
	lambda.Start(lambdaHTTPHandler(h, o.Logger, o))
}
