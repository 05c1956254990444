package mnslocal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Push delivery limits. MNS counts a push as failed when the endpoint has not answered 2xx
// within 5 seconds.
const (
	pushTimeout         = 5 * time.Second
	maxConcurrentPushes = 16
	maxPendingPushes    = 10000
	pushUserAgent       = "Aliyun Notification Service Agent"
	// notificationNS is the namespace of pushed XML notifications, with the trailing slash
	// the real pushes carry (unlike API answers).
	notificationNS = "http://mns.aliyuncs.com/doc/v1/"
)

// Retry schedules, as MNS documents them: BACKOFF_RETRY retries 3 times 10–20 s apart;
// EXPONENTIAL_DECAY_RETRY retries 176 times, 1 s doubling to 512 s, about a day in all.
const (
	backoffRetries     = 3
	exponentialRetries = 176
)

// publishedMessage is one published message on its way to the subscriptions.
type publishedMessage struct {
	id, body, md5, tag string
	publishMS          int64
}

// PushStats counts the emulator's push deliveries since start (or the last ResetStats).
type PushStats struct {
	// Attempts counts push requests made, retries included.
	Attempts int64 `json:"attempts"`
	// Delivered counts pushes an endpoint acknowledged with a 2xx.
	Delivered int64 `json:"delivered"`
	// Failed counts attempts that failed: a non-2xx answer, an error, or no answer in 5 s.
	Failed int64 `json:"failed"`
	// GivenUp counts pushes abandoned after the last retry of their strategy.
	GivenUp int64 `json:"given_up"`
	// Dropped counts pushes never completed because their subscription or topic was deleted
	// meanwhile, the emulator closed, or more than 10000 were pending.
	Dropped int64 `json:"dropped"`
	// Pending is the number of pushes not yet delivered or abandoned (a current count).
	Pending int64 `json:"pending"`
	// CertFetches counts downloads of the signing certificate at CertURL.
	CertFetches int64 `json:"cert_fetches"`
}

// pusher delivers pushes asynchronously: one goroutine per pending push, at most
// maxConcurrentPushes requests in flight, at most maxPendingPushes pending; Close cancels
// every wait and request and waits for the goroutines.
type pusher struct {
	t      *topicState
	client *http.Client
	scale  float64
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}

	mu     sync.Mutex // guards closed and wg.Add against close's wg.Wait
	closed bool
	wg     sync.WaitGroup

	pending                                       atomic.Int64
	attempts, delivered, failed, givenUp, dropped atomic.Int64
}

func newPusher(t *topicState) *pusher {
	ctx, cancel := context.WithCancel(context.Background())
	scale := t.s.cfg.PushRetryScale
	if scale == 0 {
		scale = 1
	}
	return &pusher{
		t: t,
		client: &http.Client{
			Timeout: pushTimeout,
			// MNS does not follow redirects: a 3xx is a failed push.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				Proxy:               nil, // endpoints are reached directly, as MNS reaches them
				MaxIdleConnsPerHost: maxConcurrentPushes,
				IdleConnTimeout:     30 * time.Second,
			},
		},
		scale:  scale,
		ctx:    ctx,
		cancel: cancel,
		sem:    make(chan struct{}, maxConcurrentPushes),
	}
}

// enqueue starts the delivery of msg to sub; snap is sub's state at publish time.
func (p *pusher) enqueue(sub *subscription, snap subscription, msg publishedMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.dropped.Add(1)
		return
	}
	if p.pending.Add(1) > maxPendingPushes {
		p.pending.Add(-1)
		p.dropped.Add(1)
		p.t.s.cfg.Logger.Warn("mnslocal: push dropped: too many pending", "topic", snap.topic,
			"subscription", snap.name, "message_id", msg.id, "pending", maxPendingPushes)
		return
	}
	p.wg.Add(1)
	go p.deliver(sub, snap, msg)
}

// close cancels pending pushes and waits for their goroutines.
func (p *pusher) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.client.CloseIdleConnections()
}

func (p *pusher) deliver(sub *subscription, snap subscription, msg publishedMessage) {
	defer p.wg.Done()
	defer p.pending.Add(-1)
	log := p.t.s.cfg.Logger
	for attempt := 0; ; attempt++ {
		if !p.t.live(sub) || p.ctx.Err() != nil {
			p.dropped.Add(1)
			return
		}
		start := time.Now()
		status, err := p.attempt(snap, msg)
		if err == nil {
			p.delivered.Add(1)
			log.Debug("mnslocal: push delivered", "topic", snap.topic, "subscription", snap.name,
				"message_id", msg.id, "endpoint", snap.endpoint, "status", status, "attempt", attempt+1,
				"duration", time.Since(start).Round(time.Microsecond).String())
			return
		}
		if p.ctx.Err() != nil {
			p.dropped.Add(1)
			return
		}
		p.failed.Add(1)
		wait, ok := retryDelay(snap.strategy, attempt, p.scale)
		if !ok {
			p.givenUp.Add(1)
			log.Warn("mnslocal: push given up", "topic", snap.topic, "subscription", snap.name,
				"message_id", msg.id, "endpoint", snap.endpoint, "attempts", attempt+1, "strategy", snap.strategy, "err", err.Error())
			return
		}
		log.Info("mnslocal: push failed, will retry", "topic", snap.topic, "subscription", snap.name,
			"message_id", msg.id, "endpoint", snap.endpoint, "attempt", attempt+1, "retry_in", wait.String(), "err", err.Error())
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-sub.stop:
			timer.Stop()
			p.dropped.Add(1)
			return
		case <-p.ctx.Done():
			timer.Stop()
			p.dropped.Add(1)
			return
		}
	}
}

// retryDelay is the wait before the retry that follows failed attempt number attempt (0 is
// the first push), scaled; ok is false when the strategy has no retry left.
func retryDelay(strategy string, attempt int, scale float64) (time.Duration, bool) {
	var d time.Duration
	switch strategy {
	case strategyExponential:
		if attempt >= exponentialRetries {
			return 0, false
		}
		d = time.Second << min(attempt, 9) // 1 s .. 512 s
	default:
		if attempt >= backoffRetries {
			return 0, false
		}
		d = 10*time.Second + rand.N(10*time.Second)
	}
	return time.Duration(float64(d) * scale), true
}

// attempt makes one push request; nil means a 2xx answer within pushTimeout.
func (p *pusher) attempt(sub subscription, msg publishedMessage) (int, error) {
	select {
	case p.sem <- struct{}{}:
	case <-p.ctx.Done():
		return 0, p.ctx.Err()
	}
	defer func() { <-p.sem }()
	p.attempts.Add(1)
	req, err := p.t.buildPush(p.ctx, sub, msg)
	if err != nil {
		return 0, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	// Drain a little so the connection can be reused; an endpoint's answer body is ignored.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// buildPush builds one signed push request, fresh for every attempt (new Date, request id
// and signature), with the headers and body real MNS sends.
func (t *topicState) buildPush(ctx context.Context, sub subscription, msg publishedMessage) (*http.Request, error) {
	signer, err := t.signer()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(sub.endpoint)
	if err != nil {
		return nil, err
	}
	target := u.EscapedPath()
	if target == "" || target == "/" {
		target = "/notifications"
	}
	if u.RawQuery != "" {
		target += "?" + u.RawQuery
	}
	owner := t.s.cfg.AlicomUID
	body, ctype := encodeNotification(sub, msg, owner)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Scheme+"://"+u.Host+target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	// Header names are set as MNS writes them (x-mns-* in lower case) rather than
	// canonicalised: receivers must not depend on the spelling.
	h := http.Header{}
	h["Content-Type"] = []string{ctype}
	h["Content-MD5"] = []string{bodyMD5(string(body))}
	h["Date"] = []string{t.s.now().UTC().Format(http.TimeFormat)}
	h["User-Agent"] = []string{pushUserAgent}
	h["x-mns-request-id"] = []string{newRequestID()}
	h["x-mns-version"] = []string{mnsVersion}
	h["x-mns-signing-cert-url"] = []string{base64.StdEncoding.EncodeToString([]byte(t.s.CertURL()))}
	h["x-mns-message-id"] = []string{msg.id}
	if msg.tag != "" {
		h["x-mns-message-tag"] = []string{msg.tag}
	}
	h["x-mns-topic-owner"] = []string{owner}
	h["x-mns-topic-name"] = []string{sub.topic}
	h["x-mns-subscriber"] = []string{owner}
	h["x-mns-subscription-name"] = []string{sub.name}
	h["x-mns-publish-time"] = []string{strconv.FormatInt(msg.publishMS, 10)}
	h["Authorization"] = []string{signer.sign(pushStringToSign(http.MethodPost, req.URL.RequestURI(), h))}
	req.Header = h
	return req, nil
}

// pushStringToSign is MNS's string to sign for a push: the request signature layout, with
// every x-mns-* header (lower-cased, sorted) and the request target.
func pushStringToSign(method, target string, h http.Header) string {
	var b strings.Builder
	b.WriteString(method + "\n")
	get := func(name string) string {
		for k, v := range h {
			if strings.EqualFold(k, name) && len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	b.WriteString(get("Content-MD5") + "\n")
	b.WriteString(get("Content-Type") + "\n")
	b.WriteString(get("Date") + "\n")
	var mns []string
	for k, v := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-mns-") && len(v) > 0 {
			mns = append(mns, lk+":"+v[0])
		}
	}
	sort.Strings(mns)
	for _, kv := range mns {
		b.WriteString(kv + "\n")
	}
	b.WriteString(target)
	return b.String()
}

// encodeNotification renders the push body in the subscription's format.
func encodeNotification(sub subscription, msg publishedMessage, owner string) ([]byte, string) {
	switch sub.format {
	case formatSimplified:
		return []byte(msg.body), "text/plain;charset=utf-8"
	case formatJSON:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(struct {
			TopicOwner       string
			TopicName        string
			Subscriber       string
			SubscriptionName string
			MessageId        string
			MessageMD5       string
			MessageTag       string
			Message          string
			PublishTime      string
		}{owner, sub.topic, owner, sub.name, msg.id, msg.md5, msg.tag, msg.body, strconv.FormatInt(msg.publishMS, 10)})
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), "application/json;charset=utf-8"
	default:
		var b bytes.Buffer
		b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
		b.WriteString(`<Notification xmlns="` + notificationNS + `">` + "\n")
		for _, f := range [][2]string{
			{"TopicOwner", owner}, {"TopicName", sub.topic}, {"Subscriber", owner},
			{"SubscriptionName", sub.name}, {"MessageId", msg.id}, {"MessageMD5", msg.md5},
			{"MessageTag", msg.tag}, {"Message", msg.body}, {"PublishTime", strconv.FormatInt(msg.publishMS, 10)},
		} {
			b.WriteString("  <" + f[0] + ">")
			_ = xml.EscapeText(&b, []byte(f[1]))
			b.WriteString("</" + f[0] + ">\n")
		}
		b.WriteString("</Notification>\n")
		return b.Bytes(), "text/xml;charset=utf-8"
	}
}

// pushStats returns the push counters.
func (t *topicState) pushStats() PushStats {
	p := t.push
	return PushStats{
		Attempts: p.attempts.Load(), Delivered: p.delivered.Load(), Failed: p.failed.Load(),
		GivenUp: p.givenUp.Load(), Dropped: p.dropped.Load(), Pending: p.pending.Load(),
		CertFetches: t.certFetches.Load(),
	}
}

// resetPushStats zeroes the push counters (Pending stays: it is a current count).
func (t *topicState) resetPushStats() {
	p := t.push
	for _, c := range []*atomic.Int64{&p.attempts, &p.delivered, &p.failed, &p.givenUp, &p.dropped, &t.certFetches} {
		c.Store(0)
	}
}

// PushStats returns the push delivery counters (also in Stats().Pushes).
func (s *Server) PushStats() PushStats { return s.topics.pushStats() }
