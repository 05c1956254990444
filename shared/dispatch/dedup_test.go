package dispatch

import (
	"context"
	"errors"
	"testing"
)

// script answers each call of a DispatchFunc with the next outcome, counting calls.
type script struct {
	outcomes []Outcome
	calls    int
	seen     []int64 // DequeueCount of each call
}

func (s *script) next(_ context.Context, m *Message) (Outcome, error) {
	out := s.outcomes[min(s.calls, len(s.outcomes)-1)]
	s.calls++
	s.seen = append(s.seen, m.DequeueCount)
	if out == Retry || out == DeadLettered {
		return out, errDatabaseDown
	}
	return out, nil
}

func TestDeduplicate(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		ids       []string
		counts    []int64 // DequeueCount per delivery (0 when shorter)
		outcomes  []Outcome
		wantLast  Outcome
		wantCalls int
		wantSeen  []int64
		wantStats DedupStats
	}{
		{name: "a handled id delivered again is a duplicate and next does not run",
			size: 4, ids: []string{"a", "a"}, outcomes: []Outcome{Handled},
			wantLast: Duplicate, wantCalls: 1, wantStats: DedupStats{Recognised: 1}},
		{name: "a dead-lettered id delivered again is a duplicate",
			size: 4, ids: []string{"a", "a"}, outcomes: []Outcome{DeadLettered},
			wantLast: Duplicate, wantCalls: 1, wantStats: DedupStats{Recognised: 1}},
		{name: "a kept id delivered again runs again",
			size: 4, ids: []string{"a", "a"}, outcomes: []Outcome{Retry, Handled},
			wantLast: Handled, wantCalls: 2},
		{name: "a carrier that cannot count deliveries is given the deliveries seen here",
			size: 4, ids: []string{"a", "a", "a"}, outcomes: []Outcome{Retry},
			wantLast: Retry, wantCalls: 3, wantSeen: []int64{1, 2, 3}},
		{name: "a carrier's own delivery count is left as it is",
			size: 4, ids: []string{"a", "a"}, counts: []int64{1, 7}, outcomes: []Outcome{Retry},
			wantLast: Retry, wantCalls: 2, wantSeen: []int64{1, 7}},
		{name: "a first sighting of a redelivered id is counted as unrecognised",
			size: 4, ids: []string{"a", "b"}, counts: []int64{3, 1}, outcomes: []Outcome{Handled},
			wantLast: Handled, wantCalls: 2, wantStats: DedupStats{Unrecognised: 1}},
		{name: "the id seen first is forgotten first when the memory is full",
			size: 2, ids: []string{"a", "b", "c", "a"}, outcomes: []Outcome{Handled},
			wantLast: Handled, wantCalls: 4},
		{name: "an id still held is remembered",
			size: 2, ids: []string{"a", "b", "c", "c"}, outcomes: []Outcome{Handled},
			wantLast: Duplicate, wantCalls: 3, wantStats: DedupStats{Recognised: 1}},
		{name: "messages without an id pass through every time",
			size: 4, ids: []string{"", ""}, outcomes: []Outcome{Handled},
			wantLast: Handled, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDedup(tt.size)
			s := &script{outcomes: tt.outcomes}
			dispatch := Deduplicate(d)(s.next)
			var last Outcome
			for i, id := range tt.ids {
				m := &Message{ID: id}
				if i < len(tt.counts) {
					m.DequeueCount = tt.counts[i]
				}
				last, _ = dispatch(context.Background(), m)
			}
			if last != tt.wantLast {
				t.Errorf("last outcome = %v, want %v", last, tt.wantLast)
			}
			if s.calls != tt.wantCalls {
				t.Errorf("next ran %d times, want %d", s.calls, tt.wantCalls)
			}
			if tt.wantSeen != nil && !equalCounts(s.seen, tt.wantSeen) {
				t.Errorf("next saw DequeueCount %v, want %v", s.seen, tt.wantSeen)
			}
			if got := d.Stats(); got != tt.wantStats {
				t.Errorf("Stats = %+v, want %+v", got, tt.wantStats)
			}
		})
	}
}

func equalCounts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAnIdBeingHandledIsAnsweredInFlightAndCounted(t *testing.T) {
	d := NewDedup(4)
	var inner Outcome
	var innerErr error
	dispatch := Deduplicate(d)(func(ctx context.Context, m *Message) (Outcome, error) {
		inner, innerErr = Deduplicate(d)(func(context.Context, *Message) (Outcome, error) {
			t.Error("the second delivery ran while the first was running")
			return Handled, nil
		})(ctx, &Message{ID: m.ID})
		return Handled, nil
	})
	if out, _ := dispatch(context.Background(), &Message{ID: "a"}); out != Handled {
		t.Fatalf("first delivery = %v", out)
	}
	if inner != Retry || !errors.Is(innerErr, ErrInFlight) {
		t.Errorf("delivery during the first = %v, %v; want Retry with ErrInFlight", inner, innerErr)
	}
	if got := d.Stats().InFlight; got != 1 {
		t.Errorf("Stats.InFlight = %d, want 1", got)
	}
}

func TestAnIdWhoseDispatchPanickedIsNotRememberedAsFinished(t *testing.T) {
	d := NewDedup(4)
	func() {
		defer func() { _ = recover() }()
		Deduplicate(d)(func(context.Context, *Message) (Outcome, error) { panic("policy bug") })(context.Background(), &Message{ID: "a"})
	}()
	if d.Remembers("a") {
		t.Error("an id whose dispatch panicked is remembered as finished")
	}
	s := &script{outcomes: []Outcome{Handled}}
	if out, err := Deduplicate(d)(s.next)(context.Background(), &Message{ID: "a"}); out != Handled {
		t.Errorf("the next delivery = %v, %v; want it handled (not in flight)", out, err)
	}
}

func TestAnIdBeingHandledIsNotForgottenWhenTheMemoryWrapsAround(t *testing.T) {
	d := NewDedup(1)
	s := &script{outcomes: []Outcome{Handled}}
	dispatch := Deduplicate(d)
	dispatch(func(ctx context.Context, m *Message) (Outcome, error) {
		// While "a" runs, "b" takes the only slot.
		if out, _ := dispatch(s.next)(ctx, &Message{ID: "b"}); out != Handled {
			t.Errorf("b = %v", out)
		}
		if out, _ := dispatch(s.next)(ctx, &Message{ID: "a"}); out != Retry {
			t.Errorf("a during its own run = %v, want Retry (in flight)", out)
		}
		return Handled, nil
	})(context.Background(), &Message{ID: "a"})
	if !d.Remembers("a") || d.Remembers("b") {
		t.Errorf("Remembers a = %v, b = %v; want a finished last to be held, b forgotten", d.Remembers("a"), d.Remembers("b"))
	}
}

func TestDedupRefusesASizeItCannotHold(t *testing.T) {
	for _, size := range []int{0, -1, maxDedupSize + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewDedup(%d) did not panic", size)
				}
			}()
			NewDedup(size)
		}()
	}
}

func TestARouterWithoutDeduplicationHasANilDedupThatRemembersNothing(t *testing.T) {
	r := mustRouter(t, Options{DedupSize: -1})
	if d := r.Dedup(); d != nil || d.Remembers("a") || d.Stats() != (DedupStats{}) {
		t.Errorf("Dedup() = %v", d)
	}
}

func TestTheRoutersDedupSaysWhichIdsItWouldRecognise(t *testing.T) {
	r := mustRouter(t, Options{})
	r.Handle("SmsReport", func(context.Context, *Message) error { return nil })
	if r.Dedup().Remembers("m1") {
		t.Fatal("an id never seen is remembered")
	}
	r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 1))
	if !r.Dedup().Remembers("m1") {
		t.Error("a handled id is not remembered")
	}
	r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 2))
	if got := r.Dedup().Stats(); got.Recognised != 1 {
		t.Errorf("Stats = %+v, want one recognised", got)
	}
}
