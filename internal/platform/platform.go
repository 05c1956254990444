// Package platform owns the platform edge of the event-triggered functions: it decides whether the
// process runs under Function Compute, AWS Lambda or locally, turns each platform's event and
// context into a plain Invocation, and hands the handler's result back to the platform. It is the
// only package that imports the two runtime SDKs; everything behind it is platform-free.
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
}

// Handler runs one invocation. Its result is marshalled to JSON for the platform; an error
// marks the invocation failed.
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

// Start serves invocations on the detected platform; locally it runs one invocation from the
// command line (see RunLocal) and exits with its status.
func Start(h Handler) {
	switch Detect(os.Getenv) {
	case FunctionCompute:
		startFC(h)
	case Lambda:
		startLambda(h)
	default:
		os.Exit(RunLocal(context.Background(), os.Args[1:], os.Stdout, os.Stderr, h))
	}
}

// writeJSON writes v as indented JSON with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
