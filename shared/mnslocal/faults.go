package mnslocal

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// faultState holds the injected latency and faults. Each operation draws from its own
// generator seeded from Config.Seed and the operation name, so the decisions for one
// operation depend only on how many requests of that operation came before: a test that
// issues its requests of an operation in order sees the same faults on every run.
type faultState struct {
	latency, jitter atomic.Int64 // nanoseconds

	mu        sync.Mutex
	seed      int64
	faults    map[string]Fault
	rngs      map[string]*rand.Rand
	jitterRNG *rand.Rand
}

func newFaultState(cfg Config) *faultState {
	f := &faultState{seed: cfg.Seed, faults: make(map[string]Fault), rngs: make(map[string]*rand.Rand),
		jitterRNG: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6a697474))}
	f.latency.Store(int64(cfg.Latency))
	f.jitter.Store(int64(cfg.Jitter))
	for op, ft := range cfg.Faults {
		f.set(op, ft)
	}
	return f
}

// set installs (or with Rate 0 clears) the fault of op and restarts its generator, so
// the sequence of decisions after a set is reproducible too.
func (f *faultState) set(op string, ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft.Rate == 0 {
		delete(f.faults, op)
		delete(f.rngs, op)
		return
	}
	if ft.Kind == FaultStall && ft.Stall == 0 {
		ft.Stall = DefaultStall
	}
	f.faults[op] = ft
	h := fnv.New64a()
	h.Write([]byte(op))
	f.rngs[op] = rand.New(rand.NewPCG(uint64(f.seed), h.Sum64()))
}

// decide reports whether this request of op fails, and how.
func (f *faultState) decide(op string) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft, ok := f.faults[op]
	if !ok {
		return Fault{}, false
	}
	if f.rngs[op].Float64() < ft.Rate {
		return ft, true
	}
	return Fault{}, false
}

// delay is the latency for one request: fixed plus a uniform share of the jitter.
func (f *faultState) delay() time.Duration {
	d := time.Duration(f.latency.Load())
	if j := f.jitter.Load(); j > 0 {
		f.mu.Lock()
		d += time.Duration(f.jitterRNG.Int64N(j))
		f.mu.Unlock()
	}
	return d
}

// sleep waits d unless the request or the server ends first; it reports whether the
// whole delay passed. Each request sleeps in its own goroutine: latency never
// serializes concurrent requests.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// injectFault applies a fault decided for op. It reports whether the request is finished
// (answered or dropped); a stall returns false after the stall so the request then runs
// normally, only too late for a client with a shorter timeout.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, op string, rpc bool) bool {
	ft, ok := s.faults.decide(op)
	if !ok {
		return false
	}
	s.cfg.Logger.Debug("mnslocal: injecting fault", "op", op, "kind", string(ft.Kind))
	switch ft.Kind {
	case FaultInternalError:
		if rpc {
			s.writeRPCError(w, r, rpcFormat(r), 500, "InternalError", "The request processing has failed due to some unknown error, exception or failure.")
		} else {
			s.writeAPIError(w, r, errInternal)
		}
		return true
	case FaultDrop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// Not hijackable (HTTP/2, a recorder in a test): the nearest failure is a 500.
			s.cfg.Logger.Warn("mnslocal: cannot drop the connection, answering 500 instead", "op", op, "err", err)
			if rpc {
				s.writeRPCError(w, r, rpcFormat(r), 500, "InternalError", "The request processing has failed due to some unknown error, exception or failure.")
			} else {
				s.writeAPIError(w, r, errInternal)
			}
			return true
		}
		_ = conn.Close()
		return true
	case FaultStall:
		if !s.sleep(r.Context(), ft.Stall) {
			return true
		}
	}
	return false
}

// SetLatency sets the delay added to every request: fixed plus a uniform random share of
// jitter. It applies to requests that arrive from now on.
func (s *Server) SetLatency(fixed, jitter time.Duration) {
	s.faults.latency.Store(int64(max(fixed, 0)))
	s.faults.jitter.Store(int64(max(jitter, 0)))
}

// SetFault installs the fault of operation op; Rate 0 clears it. An invalid fault is
// refused and logged at error level; use ConfigureFault to get the error.
func (s *Server) SetFault(op string, f Fault) {
	if err := s.ConfigureFault(op, f); err != nil {
		s.cfg.Logger.Error("mnslocal: SetFault refused", "err", err)
	}
}

// ConfigureFault is SetFault that returns an error for an unknown operation or an invalid
// fault instead of logging it.
func (s *Server) ConfigureFault(op string, f Fault) error {
	if err := f.validate(op); err != nil {
		return err
	}
	s.faults.set(op, f)
	return nil
}
