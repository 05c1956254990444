package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/valyala/fasthttp"
)

// Emulator defaults: the endpoint and key pair of a `go run ./cmd/mnslocal` started with no
// flags. The keys are used only for loopback endpoints and only when no keys are set.
const (
	defaultEndpoint     = "http://127.0.0.1:9911"
	emulatorAccessKeyID = "mnslocal"
	emulatorSecret      = "mnslocal-secret"
	// placeholderHost is a 5-part MNS host: the SDK panics on any other endpoint shape, so
	// endpoints such as 127.0.0.1:9911 are reached through it and a dialing transport.
	placeholderHost = "1234567890123456.mns.cn-hangzhou.aliyuncs.com"
)

// Environment variables the tool reads.
const (
	envEndpoint      = "MNS_ENDPOINT"
	envAccessKeyID   = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	envAccessSecret  = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	envSecurityToken = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// credentials is the key pair the client signs with. String never shows the secret or token.
type credentials struct {
	KeyID, Secret, Token string
	Emulator             bool // the emulator's default keys, because none were set
}

func (c credentials) String() string {
	s := "AccessKeyId " + c.KeyID
	if c.Token != "" {
		s += " with an STS token"
	}
	if c.Emulator {
		s += " (emulator default)"
	}
	return s
}

// resolveCredentials takes the keys from the environment; without them, a loopback endpoint
// gets the emulator's default keys and any other endpoint is an error.
func resolveCredentials(endpoint *url.URL, getenv func(string) string) (credentials, error) {
	id, secret := getenv(envAccessKeyID), getenv(envAccessSecret)
	switch {
	case id != "" && secret != "":
		return credentials{KeyID: id, Secret: secret, Token: getenv(envSecurityToken)}, nil
	case id != "" || secret != "":
		return credentials{}, fmt.Errorf("set both %s and %s, or neither", envAccessKeyID, envAccessSecret)
	case isLoopback(endpoint.Hostname()):
		return credentials{KeyID: emulatorAccessKeyID, Secret: emulatorSecret, Emulator: true}, nil
	default:
		return credentials{}, fmt.Errorf("no AccessKey for %s: set %s and %s (and %s for STS credentials)",
			endpoint.Host, envAccessKeyID, envAccessSecret, envSecurityToken)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseEndpoint checks an MNS endpoint URL: http or https, a host, nothing else.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(s), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("endpoint %q: want http(s)://host[:port], e.g. https://<account>.mns.cn-hangzhou.aliyuncs.com or %s", s, defaultEndpoint)
	}
	return u, nil
}

// sdkShaped reports whether the SDK accepts the endpoint as it is: its whole text splits into
// exactly 5 parts at dots (the SDK's own test, which panics otherwise).
func sdkShaped(u *url.URL) bool {
	return len(strings.Split(u.String(), ".")) == 5
}

// dialTransport sends every request the SDK makes to one address, whatever the request's
// Host says: how an endpoint the SDK cannot name (127.0.0.1:9911) is reached.
type dialTransport struct{ hc *fasthttp.HostClient }

func (d dialTransport) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	return false, d.hc.Do(req, resp)
}

// newMNSClient builds an SDK client for endpoint. The SDK panics instead of returning errors
// on bad input; those panics become errors here.
func newMNSClient(endpoint *url.URL, creds credentials, timeout time.Duration) (client ali_mns.MNSClient, err error) {
	defer func() {
		if p := recover(); p != nil {
			client, err = nil, fmt.Errorf("MNS SDK refused the configuration: %v", p)
		}
	}()
	secs := int64(timeout / time.Second)
	if secs < 1 {
		secs = 1
	}
	cfg := ali_mns.AliMNSClientConfig{
		EndPoint:        endpoint.String(),
		AccessKeyId:     creds.KeyID,
		AccessKeySecret: creds.Secret,
		Token:           creds.Token,
		TimeoutSecond:   secs,
	}
	if sdkShaped(endpoint) {
		return ali_mns.NewAliMNSClientWithConfig(cfg), nil
	}
	cfg.EndPoint = "http://" + placeholderHost
	c := ali_mns.NewAliMNSClientWithConfig(cfg)
	addr := endpoint.Host
	if endpoint.Port() == "" {
		port := "80"
		if endpoint.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(endpoint.Hostname(), port)
	}
	c.SetTransport(dialTransport{&fasthttp.HostClient{
		Addr:         addr,
		IsTLS:        endpoint.Scheme == "https",
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		// An operator tool must not resend a publish or send after a dropped connection:
		// the first attempt may have succeeded.
		RetryIf: func(*fasthttp.Request) bool { return false },
	}})
	return c, nil
}

// errorCode extracts the MNS error code (TopicNotExist, QueueNotExist ...) from an SDK error,
// which only carries it in its text.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	for _, code := range []string{
		"TopicNotExist", "TopicAlreadyExist", "SubscriptionNotExist", "SubscriptionAlreadyExist",
		"QueueNotExist", "QueueAlreadyExist", "MessageNotExist", "ReceiptHandleError",
		"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "TimeExpired",
	} {
		if strings.Contains(msg, code) {
			return code
		}
	}
	return ""
}

var errUsage = errors.New("usage")
