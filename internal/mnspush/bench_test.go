package mnspush_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/mnspush/mnspushtest"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// BenchmarkHandle measures one verified XML push end to end through Handle (certificate
// cached, 2048-bit key, dispatcher that does nothing); ids repeat after 1024 pushes, and a
// repeat is verified and then acknowledged as a duplicate.
func BenchmarkHandle(b *testing.B) {
	s := mnspushtest.NewSigner(b)
	cfg := s.Config()
	cfg.Logger = slog.New(slog.DiscardHandler)
	ep, err := mnspush.New(cfg, mnspush.DispatcherFunc(func(context.Context, *dispatch.Message) (dispatch.Outcome, error) {
		return dispatch.Handled, nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]mnspush.Request, 1024)
	for i := range reqs {
		reqs[i] = s.Push(mnspushtest.Sample("BENCH-"+itoa(i), "eyJwaG9uZV9udW1iZXIiOiIxMzAwMDAwMDAwMCJ9"), mnspush.FormatXML)
	}
	ep.Handle(context.Background(), reqs[0]) // fetch the certificate once
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := reqs[i%len(reqs)]
		if resp := ep.Handle(context.Background(), r); resp.Status != http.StatusCreated {
			b.Fatalf("status %d", resp.Status)
		}
	}
}

// BenchmarkParseNotification measures parsing alone, per format.
func BenchmarkParseNotification(b *testing.B) {
	n := mnspushtest.Sample("F6EA56633844DBFC-1-154BDFB8059-200000004", "eyJwaG9uZV9udW1iZXIiOiIxMzAwMDAwMDAwMCJ9")
	for _, f := range []mnspush.Format{mnspush.FormatXML, mnspush.FormatJSON, mnspush.FormatSimplified} {
		r := mnspushtest.Unsigned(n, f)
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mnspush.ParseNotification(r.Header, r.Body, mnspush.FormatAuto); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
