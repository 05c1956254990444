package mnslocal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// AlicomRetrySchedule is the pause before each retry of an Alicom push that was not
// acknowledged: 1, 5 and 10 minutes, then Alicom gives up (the shortest schedule its
// documentation gives; the OpenAPI page promises 10 attempts over several hours).
var AlicomRetrySchedule = []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute}

// AlicomAnswerTimeout is how long Alicom waits for a push to be answered.
const AlicomAnswerTimeout = 700 * time.Millisecond

// AlicomPushConfig configures an AlicomPusher. Zero fields take the defaults named.
type AlicomPushConfig struct {
	// Schedule is the pause before each retry; default AlicomRetrySchedule. Tests scale it
	// down (milliseconds). Its length is the number of retries.
	Schedule []time.Duration
	// Timeout is how long an answer may take; default AlicomAnswerTimeout. A later answer
	// is a failure, as for Alicom.
	Timeout time.Duration
	// Client sends the pushes; default a plain client. Its own Timeout is not used.
	Client *http.Client
}

// AlicomPusher plays Alicom's HTTP batch push: it POSTs a JSON array of messages of one type
// to a callback URL, as Alicom does, and retries on its schedule until the endpoint answers
// 200 with a JSON body whose code is a number (all Alicom checks). It records every delivery
// and every answer. It is safe for concurrent use.
type AlicomPusher struct {
	cfg AlicomPushConfig

	mu         sync.Mutex
	deliveries []AlicomDelivery
}

// AlicomDelivery is one batch and what became of it.
type AlicomDelivery struct {
	// Path is the callback URL's path (the query, which holds the token, is not kept).
	Path string
	// Body is the JSON array as sent.
	Body []byte
	// Attempts are the POSTs made, in order.
	Attempts []AlicomAttempt
	// Acknowledged is true when an attempt was acknowledged.
	Acknowledged bool
}

// AlicomAttempt is one POST of a batch.
type AlicomAttempt struct {
	// Start is when the POST was sent.
	Start time.Time
	// Duration is how long the answer took (or until the failure).
	Duration time.Duration
	// Status is the HTTP status; 0 when there was no answer.
	Status int
	// Answer is the answer body, up to 4 KiB.
	Answer string
	// Err says why the attempt failed: no answer, a late one, or one Alicom does not accept.
	Err error
}

// NewAlicomPusher returns a pusher configured by c.
func NewAlicomPusher(c AlicomPushConfig) *AlicomPusher {
	if c.Schedule == nil {
		c.Schedule = AlicomRetrySchedule
	}
	if c.Timeout <= 0 {
		c.Timeout = AlicomAnswerTimeout
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	return &AlicomPusher{cfg: c}
}

// Push sends items, each marshalled with encoding/json (a json.RawMessage is sent as is), as
// one batch to callbackURL, retrying on the schedule until it is acknowledged, the schedule
// is exhausted or ctx ends. It returns the delivery, also kept for Deliveries.
func (p *AlicomPusher) Push(ctx context.Context, callbackURL string, items ...any) (AlicomDelivery, error) {
	if items == nil {
		items = []any{}
	}
	body, err := json.Marshal(items)
	if err != nil {
		return AlicomDelivery{}, fmt.Errorf("mnslocal: Alicom push items do not marshal: %w", err)
	}
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return AlicomDelivery{}, fmt.Errorf("mnslocal: Alicom push callback URL does not parse as http(s)")
	}
	d := AlicomDelivery{Path: u.Path, Body: body}
	for attempt := 0; ; attempt++ {
		a := p.post(ctx, callbackURL, body)
		d.Attempts = append(d.Attempts, a)
		if a.Err == nil {
			d.Acknowledged = true
			break
		}
		if attempt >= len(p.cfg.Schedule) || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(p.cfg.Schedule[attempt])
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}
	p.mu.Lock()
	p.deliveries = append(p.deliveries, d)
	p.mu.Unlock()
	return d, ctx.Err()
}

func (p *AlicomPusher) post(ctx context.Context, callbackURL string, body []byte) AlicomAttempt {
	a := AlicomAttempt{Start: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, callbackURL, bytes.NewReader(body))
	if err != nil {
		a.Err = err
		return a
	}
	req.Header.Set("Content-Type", "application/json;charset=utf-8")
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		a.Duration = time.Since(a.Start)
		// The URL holds the token: say what failed without it.
		if ue, ok := err.(*url.Error); ok {
			err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		a.Err = fmt.Errorf("no answer within %s: %w", p.cfg.Timeout, err)
		return a
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	a.Duration = time.Since(a.Start)
	a.Status, a.Answer = resp.StatusCode, string(answer)
	switch {
	case err != nil:
		a.Err = fmt.Errorf("answer not read within %s: %w", p.cfg.Timeout, err)
	case resp.StatusCode != http.StatusOK:
		a.Err = fmt.Errorf("status %d", resp.StatusCode)
	default:
		var ack struct {
			Code json.RawMessage `json:"code"`
		}
		var n float64
		if json.Unmarshal(answer, &ack) != nil || len(ack.Code) == 0 || ack.Code[0] == '"' || json.Unmarshal(ack.Code, &n) != nil {
			a.Err = fmt.Errorf("answer %.100q has no numeric code", answer)
		}
	}
	return a
}

// Deliveries returns every delivery finished so far, oldest first.
func (p *AlicomPusher) Deliveries() []AlicomDelivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]AlicomDelivery(nil), p.deliveries...)
}
