// Package platform owns the platform edge of every function: it decides whether the process runs
// under Function Compute, AWS Lambda or locally, turns each platform's event and context into a
// plain Invocation (event functions) or a plain *http.Request (HTTP functions), and hands the
// result back in the platform's form. It also reports failures the way each platform expects:
// an error found at start, an invocation that failed, each as one JSON log line with a stable
// error type. It is the only package that imports the two runtime SDKs
// (github.com/aliyun/fc-runtime-go-sdk, github.com/aws/aws-lambda-go); everything behind it is
// platform-free.
package platform

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"time"
)

// Platform names the environment an invocation runs in.
type Platform string

// The platforms the functions run on.
const (
	FunctionCompute Platform = "fc"
	Lambda          Platform = "lambda"
	Local           Platform = "local"
)

// Invocation is what the platform said about one invocation, free of platform types. The
// deadline is also the deadline of the context the handler receives.
type Invocation struct {
	Platform  Platform
	RequestID string
	// AccountID is the account the function runs in (Function Compute only), the default for
	// the Alicom account UID.
	AccountID string
	Region    string
	Function  string
	Deadline  time.Time
	Trigger   Trigger
	// RoleCredentials says the platform handed this invocation the function role's keys
	// (Function Compute); they are in the context for the token package's credential chain.
	RoleCredentials bool
}

// Handler runs one invocation of an event function. Its result is marshalled to JSON for the
// platform. An error marks the invocation failed; the result, if not nil, is the part that
// worked and is kept in the failure's record (see Error).
type Handler func(ctx context.Context, inv Invocation) (any, error)

// Detect says which platform the process runs under, from the variables each runtime sets.
func Detect(getenv func(string) string) Platform {
	switch {
	case getenv("FC_RUNTIME_API") != "":
		return FunctionCompute
	case getenv("AWS_LAMBDA_RUNTIME_API") != "":
		return Lambda
	default:
		return Local
	}
}

// Start serves invocations of an event function on the detected platform; locally it runs one
// invocation from the command line (see RunLocal) and exits with its status. Failures are
// logged to log as one JSON line each.
func Start(h Handler, o Options) {
	o = o.withDefaults()
	switch Detect(os.Getenv) {
	case FunctionCompute:
		routeSDKLog(o.Logger)
		startFC(h, o.Logger)
	case Lambda:
		routeSDKLog(o.Logger)
		startLambda(h, o.Logger)
	default:
		os.Exit(RunLocal(context.Background(), os.Args[1:], os.Stdout, os.Stderr, h, o))
	}
}

type requestIDKey struct{}

// WithRequestID returns a context carrying the platform's request id of the invocation; the
// adapters call it for every invocation, event or HTTP.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id the platform gave the invocation ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// writeJSON writes v as indented JSON with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
