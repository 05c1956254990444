package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// LogSink writes the records of Log and DeadLetterLog straight to a writer (the function's
// stderr), byte for byte the lines that a slog.JSONHandler on that writer would write,
// request_id included (see platform.RequestID), without going through log/slog. It exists for
// speed: a record is written on every message, and slog's per-record reflection and its one
// write syscall per record were most of the log sink's cost. Here a record is appended to a
// reused buffer, and the records of concurrent handlers share one write (group commit, see
// groupWriter).
//
// The guarantee is Log's: a handler returns nil only once a write that held its whole record
// returned without error. A failed or short write fails every record in it, each as an
// Unavailable error, so those messages are kept (some of their lines may still have reached the
// writer: a redelivery then writes a second record, which delivery at least once allows).
type LogSink struct {
	out *groupWriter
	now func() time.Time // the records' time; a test replaces it
}

// NewLogSink returns a log sink writing to w. The records of all of its handlers share one
// group commit, so a LogSink should be built once per writer and shared. The sink never calls
// w.Write twice at once, but whoever else writes to w (the diagnostics logger on stderr) does so
// under a lock of its own: w must be safe for that. An *os.File is, and it serialises whole
// Writes, so a diagnostic line never lands inside a batch of records.
func NewLogSink(w io.Writer) *LogSink {
	return &LogSink{out: &groupWriter{w: w}, now: time.Now}
}

// Handler returns the handler of Log: one record "alicom message" at level INFO per message,
// with the same attributes in the same order, then request_id when ctx has one.
func (s *LogSink) Handler() dispatch.HandlerFunc {
	return func(ctx context.Context, m *dispatch.Message) error {
		e := getEncoder()
		defer e.release()
		e.begin(s.now(), "INFO", "alicom message")
		e.message(m)
		if !e.receipt(m) {
			e.str("body", m.Body)
		}
		e.end(ctx)
		if err := s.out.write(e.buf); err != nil {
			return dispatch.Unavailable(fmt.Errorf("sink: the record of message %s could not be written: %w", m.ID, err))
		}
		return nil
	}
}

// DeadLetter returns the dead-letter function of DeadLetterLog: one record "dead-lettered" at
// level ERROR per message, with the same attributes in the same order, then request_id when
// ctx has one.
func (s *LogSink) DeadLetter() dispatch.DeadLetterFunc {
	return func(ctx context.Context, m *dispatch.Message, reason error) error {
		e := getEncoder()
		defer e.release()
		e.begin(s.now(), "ERROR", "dead-lettered")
		e.message(m)
		e.str("reason_code", dispatch.ReasonCode(reason))
		e.str("reason", errorText(reason))
		e.str("body", m.Body)
		e.receipt(m)
		e.end(ctx)
		if err := s.out.write(e.buf); err != nil {
			return dispatch.Unavailable(fmt.Errorf("sink: the dead-letter record of message %s could not be written: %w", m.ID, err))
		}
		return nil
	}
}

// encoder appends one record as a JSON line the way slog.JSONHandler writes it: keys in order,
// strings escaped by slog's rules, times in RFC 3339 with nanoseconds.
type encoder struct {
	buf     []byte
	scratch bytes.Buffer // json.Compact's output, before it is appended to buf
}

var encoders = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 2048)} }}

func getEncoder() *encoder {
	e := encoders.Get().(*encoder)
	e.buf = e.buf[:0]
	return e
}

// release returns the encoder to the pool unless a large record (a dead letter's 64 KiB body)
// grew its buffer: keeping that would hold the memory for good.
func (e *encoder) release() {
	if cap(e.buf) <= 16<<10 && e.scratch.Cap() <= 16<<10 {
		encoders.Put(e)
	}
}

func (e *encoder) begin(t time.Time, level, msg string) {
	e.buf = append(e.buf, `{"time":`...)
	e.buf = appendJSONTime(e.buf, t)
	e.buf = append(e.buf, `,"level":"`...)
	e.buf = append(e.buf, level...)
	e.buf = append(e.buf, `","msg":`...)
	e.buf = appendJSONString(e.buf, msg)
}

// message appends the attributes messageAttrs gives Log's records.
func (e *encoder) message(m *dispatch.Message) {
	e.str("message_type", m.Type)
	e.str("message_id", m.ID)
	e.buf = append(e.buf, `,"dequeue_count":`...)
	e.buf = strconv.AppendInt(e.buf, m.DequeueCount, 10)
	e.str("source", m.Source)
	if !m.EnqueueTime.IsZero() {
		e.buf = append(e.buf, `,"enqueue_time":`...)
		e.buf = appendJSONTime(e.buf, m.EnqueueTime)
	}
	if m.Tag != "" {
		e.str("tag", m.Tag)
	}
}

// receipt appends m.Data as the nested object "receipt" when it is valid JSON, compacted as
// slog writes a json.RawMessage, and reports whether it did. Compact validates as it copies,
// so the text is read once (Log's json.Valid and then slog's compaction read it twice).
func (e *encoder) receipt(m *dispatch.Message) bool {
	if len(m.Data) == 0 {
		return false
	}
	e.scratch.Reset()
	if err := json.Compact(&e.scratch, m.Data); err != nil {
		return false
	}
	e.buf = append(e.buf, `,"receipt":`...)
	e.buf = append(e.buf, e.scratch.Bytes()...)
	return true
}

// end appends request_id, as the functions' logger adds it to every record written with an
// invocation's context, and closes the line.
func (e *encoder) end(ctx context.Context) {
	if id := platform.RequestID(ctx); id != "" {
		e.str("request_id", id)
	}
	e.buf = append(e.buf, "}\n"...)
}

func (e *encoder) str(key, value string) {
	e.buf = append(e.buf, ',')
	e.buf = appendJSONString(e.buf, key)
	e.buf = append(e.buf, ':')
	e.buf = appendJSONString(e.buf, value)
}

// appendJSONTime appends t as slog.JSONHandler does: RFC 3339 with nanoseconds, in t's zone.
// slog writes an error text before a year outside 0-9999 (RFC 3339 has four digits), which
// makes the line invalid JSON; here such a time is written as its text, still a JSON string.
func appendJSONTime(buf []byte, t time.Time) []byte {
	buf = append(buf, '"')
	buf = t.AppendFormat(buf, time.RFC3339Nano)
	return append(buf, '"')
}

// appendJSONString appends s as a JSON string by slog.JSONHandler's rules (those of
// encoding/json without HTML escaping): ", \ and control characters escaped, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '\\', '"':
				buf = append(buf, '\\', b)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

const hexDigits = "0123456789abcdef"
