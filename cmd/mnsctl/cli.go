package main

import (
	"context"
	"fmt"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

// cli carries what every command shares: where MNS is and the SDK client for it.
type cli struct {
	env
	endpoint string
	timeout  time.Duration
	client   ali_mns.MNSClient
}

// mns returns the SDK client, built on first use from -endpoint / $ALICOM_MNS_ENDPOINT and the keys
// in the environment.
func (c *cli) mns() (ali_mns.MNSClient, error) {
	if c.client != nil {
		return c.client, nil
	}
	raw := c.endpoint
	if raw == "" {
		raw = c.getenv(envEndpoint)
	}
	if raw == "" {
		raw = defaultEndpoint
	}
	u, err := parseEndpoint(raw)
	if err != nil {
		return nil, err
	}
	creds, err := resolveCredentials(u, c.getenv)
	if err != nil {
		return nil, err
	}
	client, err := newMNSClient(u, creds, c.timeout)
	if err != nil {
		return nil, err
	}
	if creds.Emulator {
		fmt.Fprintf(c.stderr, "mnsctl: no AccessKey in the environment; using the emulator's default keys for %s\n", u.Host)
	}
	c.client = client
	return client, nil
}

// do runs one SDK call with the command's client (see call).
func (c *cli) do(ctx context.Context, f func(client ali_mns.MNSClient) error) error {
	client, err := c.mns()
	if err != nil {
		return err
	}
	return call(ctx, func() error { return f(client) })
}

// call runs one SDK call, which has no context of its own: on cancellation it returns at once
// and leaves the call to finish within the client timeout.
func call(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
