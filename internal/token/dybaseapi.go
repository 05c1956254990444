package token

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	sdkcreds "github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/dybaseapi"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/redact"
)

// Errors a Fetcher returns; a *FetchError wraps one of them and carries the details.
var (
	// ErrRefused means Dybaseapi answered and said no: a 4xx status or HTTP 200 with Code != "OK"
	// (unknown message type, no permission, bad signature...). Retrying will not help.
	ErrRefused = errors.New("token: QueryTokenForMnsQueue refused")
	// ErrUnavailable means no answer was obtained: network failure, timeout, 5xx, throttling.
	ErrUnavailable = errors.New("token: QueryTokenForMnsQueue unavailable")
	// ErrBadResponse means Dybaseapi answered OK with a token that cannot be used (missing
	// fields, unparsable ExpireTime, unparsable body).
	ErrBadResponse = errors.New("token: QueryTokenForMnsQueue answered with an unusable token")
	// ErrInvalidArgument means the caller asked for something that cannot be requested.
	ErrInvalidArgument = errors.New("token: invalid argument")
)

// FetchError is a failed QueryTokenForMnsQueue call. Its text names the message type, the
// server's Code and RequestId; it never contains credentials.
type FetchError struct {
	MessageType string
	HTTPStatus  int    // 0 when no response was received
	Code        string // the server's Code, or the SDK's client error code
	RequestID   string
	Message     string // the server's message or the transport error, redacted and shortened
	Kind        error  // ErrRefused, ErrUnavailable, ErrBadResponse
	Cause       error  // the caller's context error when the call was cut short, else nil
}

func (e *FetchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v for message type %q", e.Kind, e.MessageType)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ", code %s", e.Code)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, ", request id %s", e.RequestID)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Temporary reports whether the failure may pass by itself (Dybaseapi unreachable, a 5xx,
// throttling), so that a consumer retries rather than giving up on the queue.
func (e *FetchError) Temporary() bool { return errors.Is(e.Kind, ErrUnavailable) && e.Cause == nil }

// Unwrap returns the kind (and the context's error when that cut the call short), so
// errors.Is(err, ErrRefused) and errors.Is(err, context.DeadlineExceeded) work.
func (e *FetchError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// Fetcher obtains a fresh queue token for a message type.
type Fetcher interface {
	Fetch(ctx context.Context, messageType, queueName string) (Token, error)
}

// DybaseapiConfig configures the Dybaseapi fetcher.
type DybaseapiConfig struct {
	// Endpoint is the Dybaseapi URL; required (the function takes it from
	// config.Config.DybaseapiEndpoint, whose default is the public endpoint: the one place that
	// fact is kept). Any http or https URL works, e.g. "http://127.0.0.1:9911" for the local
	// emulator.
	Endpoint string
	// Region is the RegionId sent with the request; default config.DefaultRegion.
	Region string
	// Credentials are the caller's own keys; default DefaultChain(os.Getenv).
	Credentials CredentialSource
	// Timeout bounds one call (connect, TLS, request, response); default 10s. The caller's ctx
	// bounds it too.
	Timeout time.Duration
	// MaxResponseBytes bounds the body of one answer; default DefaultMaxResponseBytes. A larger
	// answer fails the fetch (ErrUnavailable) after reading at most this much.
	MaxResponseBytes int64
}

// DefaultMaxResponseBytes bounds a Dybaseapi answer: a QueryTokenForMnsQueue answer is about
// 1.5 KiB (an STS token is up to about 1 KiB), an error answer less; 64 KiB leaves ample room
// and keeps a hostile or broken endpoint from filling a 128 MB function.
const DefaultMaxResponseBytes = 64 << 10

var regionPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func (c DybaseapiConfig) withDefaults() DybaseapiConfig {
	if c.Region == "" {
		c.Region = config.DefaultRegion
	}
	if c.Credentials == nil {
		c.Credentials = DefaultChain(nil)
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return c
}

// Validate checks the configuration after defaults are applied; the error names the field.
func (c DybaseapiConfig) Validate() error {
	c = c.withDefaults()
	if c.Endpoint == "" {
		return errors.New("token: DybaseapiConfig.Endpoint is empty: want the Dybaseapi URL, e.g. https://dybaseapi.aliyuncs.com")
	}
	if _, err := parseEndpoint(c.Endpoint); err != nil {
		return err
	}
	if !regionPattern.MatchString(c.Region) {
		return fmt.Errorf("token: DybaseapiConfig.Region %q: want a region id such as cn-hangzhou", c.Region)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("token: DybaseapiConfig.Timeout %v: want a positive duration (0 means 10s)", c.Timeout)
	}
	if c.MaxResponseBytes < 4<<10 {
		return fmt.Errorf("token: DybaseapiConfig.MaxResponseBytes %d: want at least 4096 (0 means %d)", c.MaxResponseBytes, DefaultMaxResponseBytes)
	}
	return nil
}

func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("token: DybaseapiConfig.Endpoint %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("token: DybaseapiConfig.Endpoint %q: want an http or https URL", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("token: DybaseapiConfig.Endpoint %q: no host", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("token: DybaseapiConfig.Endpoint %q: want scheme://host[:port] only (RPC calls go to /)", s)
	}
	return u, nil
}

// Dybaseapi fetches tokens with the alibaba-cloud-sdk-go dybaseapi client. It is safe for
// concurrent use.
type Dybaseapi struct {
	cfg    DybaseapiConfig
	scheme string // "HTTP" or "HTTPS", as the SDK spells it
	domain string // host[:port]
	// base is shared by all calls so connections (and TLS sessions) are reused. It is wrapped
	// per call (ctxTransport), which also keeps the SDK from rewriting it: the SDK only
	// adjusts transports whose dynamic type is *http.Transport.
	base *http.Transport
}

// NewDybaseapi returns a Fetcher calling QueryTokenForMnsQueue.
//
// A fresh SDK client is built for each call, over one shared connection pool: the V1 SDK client
// mutates itself during every request (timeouts, transport), so sharing one between goroutines
// races, and building one costs about 5 µs (BenchmarkNewSDKClient) against a network round trip
// per token (0.2 ms even to a local fake, BenchmarkFetch) made every few minutes — a cache of
// clients keyed by credentials would buy nothing and would have to forget rotated role keys.
func NewDybaseapi(cfg DybaseapiConfig) (*Dybaseapi, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := parseEndpoint(cfg.Endpoint)
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DialContext = (&net.Dialer{Timeout: min(cfg.Timeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext
	base.MaxIdleConnsPerHost = 4
	return &Dybaseapi{cfg: cfg, scheme: strings.ToUpper(u.Scheme), domain: u.Host, base: base}, nil
}

// ctxTransport binds each SDK request to the caller's context (the V1 SDK builds its requests
// without one, so this is what makes cancellation reach the network call) and bounds the
// answer's body (the SDK reads it whole).
type ctxTransport struct {
	ctx     context.Context
	base    http.RoundTripper
	maxBody int64
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	return limitBody(resp, t.maxBody)
}

// limitBody refuses an answer that says it is larger than limit and makes the body of any
// other fail a read past limit.
func limitBody(resp *http.Response, limit int64) (*http.Response, error) {
	if resp.ContentLength > limit {
		_ = resp.Body.Close()
		return nil, &bodyTooLargeError{limit: limit, length: resp.ContentLength}
	}
	resp.Body = &limitedBody{rc: resp.Body, limit: limit}
	return resp, nil
}

// bodyTooLargeError is an answer larger than DybaseapiConfig.MaxResponseBytes.
type bodyTooLargeError struct{ limit, length int64 }

func (e *bodyTooLargeError) Error() string {
	if e.length > 0 {
		return fmt.Sprintf("the answer's body of %d bytes exceeds the %d-byte limit; it was not read", e.length, e.limit)
	}
	return fmt.Sprintf("the answer's body exceeds the %d-byte limit; reading stopped there", e.limit)
}

// limitedBody fails a read past its limit instead of truncating silently, so a cut answer is
// never parsed as a whole one.
type limitedBody struct {
	rc          io.ReadCloser
	limit, read int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.read >= b.limit {
		// One byte more tells an answer of exactly the limit from a larger one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, &bodyTooLargeError{limit: b.limit}
		}
		return 0, err
	}
	if left := b.limit - b.read; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.rc.Read(p)
	b.read += int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

func (d *Dybaseapi) newClient(ctx context.Context, c Credentials) (*dybaseapi.Client, error) {
	config := sdk.NewConfig().WithScheme(d.scheme).WithTimeout(d.cfg.Timeout)
	config.Transport = ctxTransport{ctx: ctx, base: d.base, maxBody: d.cfg.MaxResponseBytes}
	var cred sdkcreds.CredentialsProvider
	if c.SecurityToken != "" {
		cred = sdkcreds.NewStaticSTSCredentialsProvider(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken)
	} else {
		cred = sdkcreds.NewStaticAKCredentialsProvider(c.AccessKeyID, c.AccessKeySecret)
	}
	client, err := dybaseapi.NewClientWithOptions(d.cfg.Region, config, cred)
	if err != nil {
		return nil, err
	}
	// Setting the domain skips the SDK's endpoint resolution (a network lookup of its own).
	client.Domain = d.domain
	return client, nil
}

// Fetch calls QueryTokenForMnsQueue for messageType (queueName is optional and sent when set).
func (d *Dybaseapi) Fetch(ctx context.Context, messageType, queueName string) (Token, error) {
	if strings.TrimSpace(messageType) == "" {
		return Token{}, fmt.Errorf("%w: empty message type", ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return Token{}, fmt.Errorf("token: QueryTokenForMnsQueue for message type %q: %w", messageType, err)
	}
	creds, err := d.cfg.Credentials(ctx)
	if err != nil {
		return Token{}, fmt.Errorf("token: credentials for QueryTokenForMnsQueue (message type %q): %w", messageType, err)
	}
	if !creds.Valid() {
		return Token{}, fmt.Errorf("%w: the credential source returned %v", ErrNoCredentials, creds)
	}
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()

	client, err := d.newClient(ctx, creds)
	if err != nil {
		return Token{}, &FetchError{MessageType: messageType, Kind: ErrUnavailable, Message: "building the SDK client: " + redactCreds(err.Error(), creds)}
	}
	req := dybaseapi.CreateQueryTokenForMnsQueueRequest()
	req.Scheme = d.scheme
	req.Domain = d.domain
	req.MessageType = messageType
	req.QueueName = queueName
	req.SetReadTimeout(d.cfg.Timeout)
	req.SetConnectTimeout(min(d.cfg.Timeout, 5*time.Second))

	resp, err := client.QueryTokenForMnsQueue(req)
	if err != nil {
		return Token{}, d.callError(caller, ctx, messageType, creds, err)
	}
	if resp.Code != "OK" {
		return Token{}, &FetchError{
			MessageType: messageType, HTTPStatus: resp.GetHttpStatus(), Code: orDash(resp.Code),
			RequestID: resp.RequestId, Message: quoted(resp.Message, creds), Kind: ErrRefused,
		}
	}
	return tokenFromDTO(messageType, resp.RequestId, resp.MessageTokenDTO)
}

func orDash(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

func tokenFromDTO(messageType, requestID string, dto dybaseapi.MessageTokenDTO) (Token, error) {
	bad := func(what string) error {
		return &FetchError{MessageType: messageType, HTTPStatus: http.StatusOK, Code: "OK", RequestID: requestID, Message: what, Kind: ErrBadResponse}
	}
	if dto.AccessKeyId == "" || dto.AccessKeySecret == "" || dto.SecurityToken == "" {
		return Token{}, bad("MessageTokenDTO lacks AccessKeyId, AccessKeySecret or SecurityToken")
	}
	exp, err := ParseAlicomTime(dto.ExpireTime)
	if err != nil {
		return Token{}, bad("MessageTokenDTO.ExpireTime: " + err.Error())
	}
	t := Token{AccessKeyID: dto.AccessKeyId, AccessKeySecret: dto.AccessKeySecret, SecurityToken: dto.SecurityToken, ExpireTime: exp}
	// CreateTime is informational; a missing or odd one does not make the token unusable.
	if ct, err := ParseAlicomTime(dto.CreateTime); err == nil {
		t.CreateTime = ct
	}
	return t, nil
}

// callError turns an SDK error into a FetchError without ever using the SDK's own error text
// verbatim: ServerError.Error() prints response headers, and transport errors (*url.Error)
// print the request URL, whose query string carries AccessKeyId and SecurityToken.
//
// When the caller's ctx ended, the error wraps its error (Cause) and is not Temporary; when
// only the call's own Timeout ran out, it is an outage like any other.
func (d *Dybaseapi) callError(caller, ctx context.Context, messageType string, creds Credentials, err error) error {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		fe := &FetchError{MessageType: messageType, HTTPStatus: se.HttpStatus(), Code: se.ErrorCode(), RequestID: se.RequestId(), Kind: ErrRefused}
		if fe.Code != "" {
			fe.Message = quoted(se.Message(), creds)
		} else {
			// Not Alibaba's JSON error body (a proxy, a load balancer): the body is only noise.
			fe.Code = fmt.Sprintf("HTTP%d", fe.HTTPStatus)
		}
		if fe.HTTPStatus >= 500 || fe.HTTPStatus == http.StatusTooManyRequests || strings.HasPrefix(fe.Code, "Throttling") || strings.HasPrefix(fe.Code, "ServiceUnavailable") {
			fe.Kind = ErrUnavailable
		}
		return fe
	}
	fe := &FetchError{MessageType: messageType, Kind: ErrUnavailable}
	if cerr := caller.Err(); cerr != nil {
		fe.Message, fe.Cause = cerr.Error(), cerr
		return fe
	}
	if ctx.Err() != nil {
		fe.Message = fmt.Sprintf("no answer within the %v timeout (DybaseapiConfig.Timeout)", d.cfg.Timeout)
		return fe
	}
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) {
		fe.Code = ce.ErrorCode()
		if ce.ErrorCode() == sdkerrors.JsonUnmarshalErrorCode {
			fe.Kind = ErrBadResponse
		}
		fe.Message = ce.Message()
		if oe := ce.OriginError(); oe != nil {
			fe.Message += ": " + describeTransport(oe)
		}
		fe.Message = quoted(fe.Message, creds)
		return fe
	}
	fe.Message = quoted(describeTransport(err), creds)
	return fe
}

// describeTransport keeps the operation and the cause of a *url.Error and drops its URL.
func describeTransport(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

func shorten(s string) string {
	s = strings.TrimSpace(s)
	// Alibaba's SignatureDoesNotMatch message quotes the server's string to sign, which holds
	// the AccessKeyId and the SecurityToken (percent-encoded): cut it off.
	if i := strings.Index(strings.ToLower(s), "string to sign"); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " (string to sign omitted)"
	}
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// quoted is text the server or the SDK produced, fit for an error: without the caller's secret
// and token, then shortened. In that order: a cut through a quoted token would leave a piece
// that no longer matches it.
func quoted(s string, c Credentials) string { return shorten(redactCreds(s, c)) }

// redactCreds removes the caller's secret and token from s.
func redactCreds(s string, c Credentials) string {
	return redact.From(s, c.AccessKeySecret, c.SecurityToken)
}

// Cause names what kind of failure err is, for logs and error reports, so an operator can tell
// a missing configuration from an outage from a refusal:
//   - "no_credentials": the caller's own credentials are missing (ErrNoCredentials);
//   - "unreachable": Dybaseapi could not be reached or did not answer usefully in time
//     (DNS, connection, timeout, 5xx, throttling: ErrUnavailable);
//   - "refused": Dybaseapi answered no (ErrRefused: unknown message type, no permission, a
//     bad signature);
//   - "bad_response": Dybaseapi answered with something unusable (ErrBadResponse);
//   - "deadline": the caller's deadline or cancellation ended the wait;
//   - "other" for anything else.
func Cause(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoCredentials):
		return "no_credentials"
	case errors.Is(err, ErrRefused):
		return "refused"
	case errors.Is(err, ErrBadResponse):
		return "bad_response"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "deadline"
	case errors.Is(err, ErrUnavailable):
		return "unreachable"
	}
	return "other"
}
