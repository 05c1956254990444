package mnsqueue

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/aliyun/credentials-go/credentials"
	"github.com/valyala/fasthttp"
)

// placeholderHost is what the SDK is given when the real host is not an MNS-shaped name: its
// constructor panics unless the host has exactly 5 dot-separated parts.
const placeholderHost = "1943695596114318.mns.cn-hangzhou.aliyuncs.com"

// SDKClientConfig says how to reach an MNS endpoint with the raw aliyun-mns-go-sdk client.
type SDKClientConfig struct {
	// Endpoint is any http or https URL, the emulator's http://127.0.0.1:9911 included.
	Endpoint string
	// Static keys sign every request, unless Credential is set.
	AccessKeyID, AccessKeySecret, SecurityToken string
	// Credential, when set, is asked for the keys on every request.
	Credential credentials.Credential
	// RequestTimeout bounds one request; default 35s.
	RequestTimeout time.Duration
	// MaxConns bounds the connections to the endpoint; default 16.
	MaxConns int
	// MaxResponseBytes bounds the body of one answer; default DefaultMaxResponseBytes. A
	// larger answer is an error and is not read into memory.
	MaxResponseBytes int
}

// SDKClient is a raw SDK client and the connection pool it sends through.
type SDKClient struct {
	ali_mns.MNSClient
	// Conns is the connection pool; CloseIdleConnections on it when done.
	Conns *fasthttp.HostClient
}

// hostTransport sends every request of the SDK's fasthttp client through our HostClient: it
// dials the real address (whatever host the SDK put into the URL) with our timeouts and
// connection limit. When the SDK was given a placeholder host, host is the real one, put
// back into the request so the server sees the Host it was addressed by (Host is not signed).
type hostTransport struct {
	hc   *fasthttp.HostClient
	host string
}

func (t hostTransport) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	if t.host != "" {
		req.URI().SetHost(t.host)
	}
	err := t.hc.Do(req, resp)
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		err = fmt.Errorf("the answer's body exceeds the %d-byte limit (%w); it was not read", t.hc.MaxResponseBodySize, err)
	}
	return false, err
}

// newHostClient returns the connection pool to the endpoint u, with the timeouts, connection
// limit and answer-size limit of a Queue or an SDK client, and no retries: a resent receive
// could hide the messages of a lost answer, a resent send could duplicate one.
func newHostClient(u *url.URL, timeout time.Duration, maxConns, maxResponseBytes int) *fasthttp.HostClient {
	isTLS := u.Scheme == "https"
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "443", false: "80"}[isTLS]
	}
	return &fasthttp.HostClient{
		Addr:          net.JoinHostPort(u.Hostname(), port),
		IsTLS:         isTLS,
		DialDualStack: true,
		ReadTimeout:   timeout,
		WriteTimeout:  timeout,
		MaxConns:      maxConns,
		// fasthttp refuses a larger Content-Length before reading, and stops reading a chunked
		// body at the limit.
		MaxResponseBodySize: maxResponseBytes,
		// Wait for a free connection rather than failing at once when N callers share fewer
		// connections.
		MaxConnWaitTimeout:        timeout,
		MaxIdemponentCallAttempts: 1,
		RetryIf:                   func(*fasthttp.Request) bool { return false },
		// Send the path exactly as it was signed.
		DisablePathNormalizing: true,
	}
}

// NewSDKClient returns an aliyun-mns-go-sdk client for any endpoint. The SDK panics on an
// endpoint whose host is not a 5-part MNS name (127.0.0.1:9911, localhost): such endpoints get
// a placeholder host and a transport that dials the real address. The transport is always ours,
// so timeouts, connection counts and the answer-size limit are the caller's, and nothing is
// retried: a resent receive could hide the messages of a lost answer, a resent send could
// duplicate one. The SDK's panics become errors.
func NewSDKClient(cfg SDKClientConfig) (c *SDKClient, err error) {
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	u, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	sdkHost := u.Hostname()
	if len(strings.Split(sdkHost, ".")) != 5 || net.ParseIP(sdkHost) != nil {
		sdkHost = placeholderHost
	}
	hc := newHostClient(u, cfg.RequestTimeout, cfg.MaxConns, cfg.MaxResponseBytes)
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("mnsqueue: the MNS SDK refused endpoint %q (SDK host %q): %v", cfg.Endpoint, sdkHost, r)
		}
	}()
	client := ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
		EndPoint:        u.Scheme + "://" + sdkHost,
		AccessKeyId:     cfg.AccessKeyID,
		AccessKeySecret: cfg.AccessKeySecret,
		Token:           cfg.SecurityToken,
		Credential:      cfg.Credential,
		TimeoutSecond:   int64((cfg.RequestTimeout + time.Second - 1) / time.Second),
		MaxConnsPerHost: cfg.MaxConns,
	})
	tr := hostTransport{hc: hc}
	if sdkHost != u.Hostname() {
		tr.host = u.Host
	}
	client.SetTransport(tr)
	return &SDKClient{MNSClient: client, Conns: hc}, nil
}
