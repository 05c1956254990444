package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/queue/mnsqueue"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

// Emulator defaults: the endpoint and key pair of a `go run ./cmd/mnslocal` started with no
// flags. The keys are used only for loopback endpoints and only when no keys are set.
const (
	defaultEndpoint     = "http://" + mnslocal.DefaultAddr
	emulatorAccessKeyID = mnslocal.DefaultAccessKeyID
	emulatorSecret      = mnslocal.DefaultAccessKeySecret
)

// Environment variables the tool reads: the drain's own names.
const (
	envEndpoint      = "ALICOM_MNS_ENDPOINT"
	envAccessKeyID   = config.EnvAccessKeyID
	envAccessSecret  = config.EnvAccessKeySecret
	envSecurityToken = config.EnvSecurityToken
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

// newMNSClient builds an SDK client for endpoint, whatever its shape (see mnsqueue.NewSDKClient).
func newMNSClient(endpoint *url.URL, creds credentials, timeout time.Duration) (ali_mns.MNSClient, error) {
	c, err := mnsqueue.NewSDKClient(mnsqueue.SDKClientConfig{
		Endpoint: endpoint.String(), AccessKeyID: creds.KeyID, AccessKeySecret: creds.Secret,
		SecurityToken: creds.Token, RequestTimeout: timeout, MaxConns: 4,
	})
	if err != nil {
		return nil, err
	}
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
