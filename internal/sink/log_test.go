package sink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// failingWriter fails every write, like stderr on a full device.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

func TestRecordsAreWrittenWhateverTheLogLevel(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelWarn, slog.LevelError, slog.LevelError + 4} {
		t.Run("at "+level.String(), func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
			r, err := dispatch.NewRouter(dispatch.Options{Fallback: Log(logger), DeadLetter: DeadLetterLog(logger)})
			if err != nil {
				t.Fatal(err)
			}
			r.Handle("SmsUp", func(context.Context, *dispatch.Message) error { return dispatch.Permanent(errors.New("refused")) })
			if out, err := r.Dispatch(context.Background(), queued("handled-1", "SmsReport", fixture(t, "SmsReport"))); out != dispatch.Handled {
				t.Fatalf("Dispatch = %v, %v", out, err)
			}
			if out, err := r.Dispatch(context.Background(), queued("dead-1", "SmsUp", fixture(t, "SmsUp"))); out != dispatch.DeadLettered {
				t.Fatalf("Dispatch = %v, %v", out, err)
			}
			logged := buf.String()
			if !strings.Contains(logged, `"msg":"alicom message"`) || !strings.Contains(logged, `"message_id":"handled-1"`) {
				t.Errorf("the handled message's record is missing:\n%s", logged)
			}
			if !strings.Contains(logged, `"msg":"dead-lettered"`) || !strings.Contains(logged, `"message_id":"dead-1"`) {
				t.Errorf("the dead letter's record is missing:\n%s", logged)
			}
		})
	}
}

func TestARecordThatCannotBeWrittenKeepsTheMessage(t *testing.T) {
	writers := map[string]func(t *testing.T) *slog.Logger{
		"a writer that fails": func(*testing.T) *slog.Logger {
			return slog.New(slog.NewJSONHandler(failingWriter{}, nil))
		},
		"a full device": func(t *testing.T) *slog.Logger {
			f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if err != nil {
				t.Skipf("no /dev/full here: %v", err)
			}
			t.Cleanup(func() { f.Close() })
			return slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelError}))
		},
	}
	for name, mk := range writers {
		t.Run("a handled message's record on "+name+" is retried", func(t *testing.T) {
			logger := mk(t)
			r, err := dispatch.NewRouter(dispatch.Options{Fallback: Log(logger), DeadLetter: DeadLetterLog(logger), MaxAttempts: 100})
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.Dispatch(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport")))
			if out != dispatch.Retry || err == nil || !dispatch.IsUnavailable(err) {
				t.Fatalf("Dispatch = %v, %v; want Retry with an Unavailable error", out, err)
			}
		})
		t.Run("a dead letter's record on "+name+" keeps the original", func(t *testing.T) {
			logger := mk(t)
			r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: DeadLetterLog(logger)})
			if err != nil {
				t.Fatal(err)
			}
			r.Handle("SmsReport", func(context.Context, *dispatch.Message) error { return dispatch.Permanent(errors.New("refused")) })
			out, err := r.Dispatch(context.Background(), queued("m2", "SmsReport", fixture(t, "SmsReport")))
			if out != dispatch.Retry || !errors.Is(err, dispatch.ErrDeadLetterFailed) {
				t.Fatalf("Dispatch = %v, %v; want Retry with ErrDeadLetterFailed", out, err)
			}
		})
	}
}
