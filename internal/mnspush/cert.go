package mnspush

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// maxCertBytes bounds a certificate download; a PEM certificate is a few KB.
const maxCertBytes = 64 << 10

// failureTTL is how long a failed fetch is remembered, so that a burst of pushes (or of
// forgeries naming an allowed URL) while the certificate host is down costs one request.
const failureTTL = 10 * time.Second

// certCache fetches signing certificates from allowed URLs and keeps their keys. Concurrent
// requests for one URL share a single fetch.
type certCache struct {
	client     *http.Client
	timeout    time.Duration
	ttl        time.Duration
	now        func() time.Time
	maxEntries int

	mu      sync.Mutex
	entries map[string]*certEntry
}

type certEntry struct {
	done chan struct{} // closed when key/err/at are set
	key  *rsa.PublicKey
	err  error
	at   time.Time
}

func newCertCache(c Config) *certCache {
	var client http.Client
	if c.HTTPClient != nil {
		client = *c.HTTPClient
	}
	// Never follow a redirect, whatever the caller's client says: the allow-list vouches for
	// the URL checked, not for wherever it points.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client.Timeout = c.CertFetchTimeout
	return &certCache{
		client:     &client,
		timeout:    c.CertFetchTimeout,
		ttl:        c.CertCacheTTL,
		now:        c.Now,
		maxEntries: 16,
		entries:    make(map[string]*certEntry),
	}
}

// key returns the RSA public key of the certificate at url (already allow-listed and
// canonical), from the cache when fresh.
func (c *certCache) key(ctx context.Context, url string) (*rsa.PublicKey, error) {
	for {
		c.mu.Lock()
		e := c.entries[url]
		leader := e == nil || c.expired(e)
		if leader {
			e = &certEntry{done: make(chan struct{})}
			c.entries[url] = e
			c.evictLocked(url)
			c.mu.Unlock()
			// The fetch is not bound to the caller's context: other callers may be waiting
			// for it, and the fetch has its own timeout. It runs apart, so that this caller
			// too waits no longer than its own deadline.
			go func() {
				e.key, e.err = c.fetch(context.WithoutCancel(ctx), url)
				e.at = c.now()
				close(e.done)
			}()
		} else {
			c.mu.Unlock()
		}
		select {
		case <-e.done:
			if leader || !c.expiredUnlocked(e) {
				return e.key, e.err
			}
			// Expired between lookup and now: loop and fetch again.
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", ErrCertUnavailable, ctx.Err())
		}
	}
}

// finished reports whether the entry's fetch has completed.
func (c *certEntry) finished() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// expired reports whether a finished entry is too old; an unfinished one never is.
func (c *certCache) expired(e *certEntry) bool {
	if !e.finished() {
		return false
	}
	return c.expiredUnlocked(e)
}

func (c *certCache) expiredUnlocked(e *certEntry) bool {
	ttl := c.ttl
	if e.err != nil {
		ttl = failureTTL
	}
	return c.now().Sub(e.at) >= ttl
}

// evictLocked keeps the cache bounded by dropping finished entries other than keep, oldest
// first. Only allow-listed URLs get here, so the bound is rarely reached.
func (c *certCache) evictLocked(keep string) {
	for len(c.entries) > c.maxEntries {
		var oldest string
		var oldestAt time.Time
		for u, e := range c.entries {
			if u == keep || !e.finished() {
				continue
			}
			if oldest == "" || e.at.Before(oldestAt) {
				oldest, oldestAt = u, e.at
			}
		}
		if oldest == "" {
			return
		}
		delete(c.entries, oldest)
	}
}

func (c *certCache) fetch(ctx context.Context, url string) (*rsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCertRejected, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetching %s: %v", ErrCertUnavailable, quote(url), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("%w: %s answered %d", ErrCertUnavailable, quote(url), resp.StatusCode)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, fmt.Errorf("%w: %s answered %d (redirects are not followed)", ErrCertRejected, quote(url), resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: %s answered %d", ErrCertRejected, quote(url), resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCertBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrCertUnavailable, quote(url), err)
	}
	if len(data) > maxCertBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCertRejected, quote(url), maxCertBytes)
	}
	key, err := ParseCertificateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCertRejected, quote(url), err)
	}
	return key, nil
}

// ParseCertificateKey returns the RSA public key of an X.509 certificate in PEM (the first
// CERTIFICATE block) or DER form. The validity period is deliberately not checked: the
// certificate MNS serves expired in 2016 and is still the one it signs with; trust comes from
// where the certificate was fetched, not from a chain.
func ParseCertificateKey(data []byte) (*rsa.PublicKey, error) {
	der := data
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			der = block.Bytes
			break
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("certificate key is not RSA")
	}
	return key, nil
}
