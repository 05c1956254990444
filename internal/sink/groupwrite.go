package sink

import (
	"fmt"
	"io"
	"sync"
)

// groupWriter writes whole records to w with group commit: a record that arrives while no
// write is running is written at once, by its own caller, in one Write; records that arrive
// while a write runs are appended to one pending batch, which the first of them writes in one
// Write as soon as the running write ends. The drain runs up to 64 handlers at once, so under
// load one write syscall carries many records instead of one each, and there is no timer: a
// record never waits for anything but the write before it.
//
// Every caller learns the result of the write that held its record. A failed or short write
// fails every record in it. Records are appended whole and batches are written one at a time,
// so lines never interleave or split between writers of this groupWriter.
type groupWriter struct {
	w io.Writer

	mu      sync.Mutex
	busy    bool   // a write is running, or a batch's leader was handed the turn
	pending *batch // records waiting for the running write to end; nil when none
	spare   []byte // a written batch's buffer, reused by the next batch
}

// batch is records written by one Write, and that write's result.
type batch struct {
	buf  []byte
	turn chan struct{} // closed when the leader (the caller that opened the batch) may write
	done chan struct{} // closed once err is set
	err  error
}

// maxSpare bounds the buffer a groupWriter keeps between batches: a batch of dead letters with
// 64 KiB bodies may be megabytes, which should not stay allocated.
const maxSpare = 256 << 10

// write writes rec (one or more whole lines) and returns the error of the Write that held it.
// rec is not retained.
func (g *groupWriter) write(rec []byte) error {
	g.mu.Lock()
	if !g.busy {
		g.busy = true
		g.mu.Unlock()
		return g.commit(rec)
	}
	b := g.pending
	leader := b == nil
	if leader {
		b = g.newBatch()
		g.pending = b
	}
	b.buf = append(b.buf, rec...)
	g.mu.Unlock()
	if !leader {
		<-b.done
		return b.err
	}
	<-b.turn
	g.mu.Lock()
	g.pending = nil // records arriving from now on wait for this write
	g.mu.Unlock()
	b.err = g.commit(b.buf)
	close(b.done)
	g.mu.Lock()
	if cap(b.buf) <= maxSpare {
		g.spare = b.buf[:0]
	}
	g.mu.Unlock()
	return b.err
}

// commit writes p and then passes the turn on. A panicking Write fails p's records like an
// error instead of leaving the writer busy for good, which would hang every later record.
func (g *groupWriter) commit(p []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the log writer panicked: %v", r)
		}
		g.next()
	}()
	return writeAll(g.w, p)
}

// next ends a write: it hands the turn to the pending batch's leader, or marks the writer idle.
func (g *groupWriter) next() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending != nil {
		close(g.pending.turn) // busy stays set: the leader writes next
		return
	}
	g.busy = false
}

// newBatch returns an empty batch with the spare buffer; g.mu must be held.
func (g *groupWriter) newBatch() *batch {
	b := &batch{buf: g.spare, turn: make(chan struct{}), done: make(chan struct{})}
	g.spare = nil
	return b
}

// writeAll writes p in one Write. A Write that wrote less without an error breaks io.Writer's
// contract; it is reported as io.ErrShortWrite so that the records in p are not taken as
// written.
func writeAll(w io.Writer, p []byte) error {
	n, err := w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}
