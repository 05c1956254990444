package sink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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
