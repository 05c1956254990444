package platform

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// startLambda serves invocations through the Lambda runtime API until the process is stopped.
func startLambda(h Handler) {
	lambda.Start(lambdaHandler(h))
}

// lambdaHandler converts a Lambda invocation. Alibaba Cloud credentials come from the
// environment there (ALIBABA_CLOUD_ACCESS_KEY_ID, ...), read by the token package.
func lambdaHandler(h Handler) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, event json.RawMessage) (any, error) {
		inv := Invocation{Platform: Lambda, Region: os.Getenv("AWS_REGION"), Function: lambdacontext.FunctionName}
		if dl, ok := ctx.Deadline(); ok {
			inv.Deadline = dl
		}
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			inv.RequestID = lc.AwsRequestID
		}
		trig, err := ParseTrigger(event)
		if err != nil {
			return nil, err
		}
		inv.Trigger = trig
		return h(ctx, inv)
	}
}
