package platform

import (
	"context"
	"encoding/json"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/alicom-drain/alicom-drain/internal/token"
)

// startFC serves invocations through the FC runtime API until the process is stopped.
func startFC(h Handler) {
	fc.Start(fcHandler(h))
}

// fcHandler converts an FC invocation: the function role's credentials of this invocation go
// into the context, where the token package's credential chain looks first.
func fcHandler(h Handler) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, event json.RawMessage) (any, error) {
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
			}
		}
		trig, err := ParseTrigger(event)
		if err != nil {
			return nil, err
		}
		inv.Trigger = trig
		return h(ctx, inv)
	}
}
