package app_test

import (
	"context"
	"errors"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/app"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// The README's handler example, kept here so that it compiles.
func ExampleMain() {
	app.Main(func(r *dispatch.Router) {
		dispatch.OnSmsReport(r, func(ctx context.Context, m *dispatch.Message, rep alicom.SmsReport) error {
			// rep.BizID, rep.ErrCode, rep.ReportTime (UTC+8, parsed) ...
			return markDelivered(ctx, rep.BizID, rep.PhoneNumber, rep.Delivered())
		})
		dispatch.OnSmsUp(r, func(ctx context.Context, m *dispatch.Message, up alicom.SmsUp) error {
			if up.PhoneNumber == "" {
				return dispatch.Permanent(errors.New("reply without a sender")) // dead-letter at once
			}
			return saveReply(ctx, up.PhoneNumber, up.Content)
		})
	})
}

func markDelivered(ctx context.Context, bizID, phone string, delivered bool) error { return nil }
func saveReply(ctx context.Context, phone, content string) error                   { return nil }
