package dispatch_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

var errUnknownOrder = errors.New("no such order")

// A Router with a typed handler for delivery receipts: the drain (or the push endpoint) calls
// Dispatch for every message it receives and deletes the message when the outcome is Handled,
// DeadLettered or Duplicate.
func Example() {
	r, err := dispatch.NewRouter(dispatch.Options{
		MaxAttempts: 5,
		// The record of a message that will not be handled; the message is deleted only after
		// this returns nil. Write it somewhere durable; an error keeps the message.
		DeadLetter: func(ctx context.Context, m *dispatch.Message, reason error) error {
			fmt.Printf("dead letter %s (%s): %s\n", m.ID, dispatch.ReasonCode(reason), m.Body)
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	// The handler's parameter type says which message type it takes: the alicom registry
	// maps alicom.SmsReport to "SmsReport".
	dispatch.OnPayload(r, func(ctx context.Context, m *dispatch.Message, v alicom.SmsReport) error {
		if v.OutID == "" {
			return dispatch.Permanent(errUnknownOrder) // redelivery cannot fix this one
		}
		fmt.Printf("order %s: delivered=%v at %s\n", v.OutID, v.Delivered(), v.ReportTime)
		return nil // handled: the message may be deleted
	})

	body := base64.StdEncoding.EncodeToString([]byte(
		`{"phone_number":"13000000000","success":true,"biz_id":"900619746936498440^0","out_id":"123456",` +
			`"send_time":"2017-06-01 10:00:00","report_time":"2017-06-01 10:00:05","err_code":"DELIVERED",` +
			`"err_msg":"用户接收成功","sms_size":"1"}`))
	m := &dispatch.Message{ID: "0B2D3C3E5F6A7B8C-1-15B1C3D2E3F-200000001", Type: "SmsReport",
		Source: "Alicom-Queue-1092397003988387-SmsReport", Body: body, DequeueCount: 1}

	out, err := r.Dispatch(context.Background(), m)
	fmt.Println(out, err)
	out, err = r.Dispatch(context.Background(), m) // the same message delivered again
	fmt.Println(out, err)
	// Output:
	// order 123456: delivered=true at 2017-06-01 10:00:05
	// handled <nil>
	// duplicate <nil>
}
