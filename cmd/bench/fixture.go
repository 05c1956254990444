package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/internal/queue/mnsqueue"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/dybaseapi"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

// The customer key pair the emulator accepts in every run. Only Dybaseapi sees it: the queues
// are read with the STS tokens Dybaseapi hands out, as Alicom's queues are.
const (
	benchKeyID     = "bench-key"
	benchKeySecret = "bench-key-secret-5c1e"
	benchUID       = mnslocal.DefaultAlicomUID
)

// loadSamples returns, for each wanted type, every sample body of that type (package events',
// built from events/messages, encoded as Alicom queues them).
func loadSamples(types []string) (map[string][]events.Message, error) {
	out := events.ByType(events.Messages())
	for _, t := range types {
		if len(out[t]) == 0 {
			return nil, fmt.Errorf("-types: no sample body for message type %q in events/messages", t)
		}
	}
	return out, nil
}

// fixture is one emulator preloaded with a backlog, the round trip already injected and the
// counters zeroed: each measured run gets its own, so no run sees another's leftovers.
type fixture struct {
	srv     *mnslocal.Server
	types   []string
	backlog map[string]int // messages preloaded per message type
}

// newFixture starts an emulator with one Alicom queue per type and spreads backlog messages over
// them (each queue cycling through its type's sample bodies), then sets the round trip.
func newFixture(rtt time.Duration, backlog int, types []string, samples map[string][]events.Message) (*fixture, error) {
	var (
		srv *mnslocal.Server
		err error
	)
	// The emulator's goroutines inherit this label, so a CPU profile of the bench (-cpuprofile)
	// tells its share from the client's: go tool pprof -tagignore side=emulator ... It starts on
	// a goroutine of its own because pprof.Do leaves its caller with the labels of the context
	// it was given, which would strip the caller's side=client.
	started := make(chan struct{})
	go pprof.Do(context.Background(), pprof.Labels("side", "emulator"), func(context.Context) {
		defer close(started)
		srv, err = mnslocal.Start(mnslocal.Config{
			Addr: "127.0.0.1:0", AccessKeyID: benchKeyID, AccessKeySecret: benchKeySecret,
			AlicomUID: benchUID, MessageTypes: types,
		})
	})
	<-started
	if err != nil {
		return nil, err
	}
	f := &fixture{srv: srv, types: types, backlog: make(map[string]int)}
	// Preloading is the emulator's work, not the client's: it runs under the emulator's label
	// too, so that it stays out of the client's profile.
	done := make(chan struct{})
	go pprof.Do(context.Background(), pprof.Labels("side", "emulator"), func(context.Context) {
		defer close(done)
		err = f.preload(backlog, samples)
	})
	<-done
	if err != nil {
		srv.Close()
		return nil, err
	}
	// Preloading went in-process; from here on every request pays the round trip and counts.
	srv.SetLatency(rtt, 0)
	srv.ResetStats()
	return f, nil
}

// preload spreads backlog messages over the types' queues, each cycling through its type's
// sample bodies.
func (f *fixture) preload(backlog int, samples map[string][]events.Message) error {
	for i, t := range f.types {
		n := backlog / len(f.types)
		if i < backlog%len(f.types) {
			n++
		}
		name := f.srv.AlicomQueueName(t)
		bodies := samples[t]
		if n > 0 && len(bodies) == 0 {
			return fmt.Errorf("no sample body for message type %s", t)
		}
		for j := range n {
			if _, err := f.srv.SendMessage(name, bodies[j%len(bodies)].Body); err != nil {
				return fmt.Errorf("preloading %s: %w", name, err)
			}
		}
		f.backlog[t] = n
	}
	return nil
}

func (f *fixture) close() { _ = f.srv.Close() }

// queueName is the Alicom queue of a message type.
func (f *fixture) queueName(t string) string { return f.srv.AlicomQueueName(t) }

// stsToken is what QueryTokenForMnsQueue hands out.
type stsToken struct{ id, secret, token string }

// fetchToken asks the emulator's Dybaseapi for a queue token with the alibaba-cloud-sdk-go
// client, as every official demo does before it builds its MNS client.
func fetchToken(addr, messageType string) (stsToken, error) {
	c, err := dybaseapi.NewClientWithAccessKey("cn-hangzhou", benchKeyID, benchKeySecret)
	if err != nil {
		return stsToken{}, err
	}
	c.Domain = addr
	req := dybaseapi.CreateQueryTokenForMnsQueueRequest()
	req.Scheme = "http"
	req.MessageType = messageType
	resp, err := c.QueryTokenForMnsQueue(req)
	if err != nil {
		return stsToken{}, fmt.Errorf("QueryTokenForMnsQueue %s: %w", messageType, err)
	}
	if resp.Code != "OK" {
		return stsToken{}, fmt.Errorf("QueryTokenForMnsQueue %s: code %q", messageType, resp.Code)
	}
	dto := resp.MessageTokenDTO
	return stsToken{id: dto.AccessKeyId, secret: dto.AccessKeySecret, token: dto.SecurityToken}, nil
}

// newSDKClient returns a raw aliyun-mns-go-sdk client signed with tok that talks to the emulator
// at addr over at most conns keep-alive connections: the SDK as an application uses it, built by
// the constructor the project shares for local endpoints (the SDK panics on a host that is not a
// 5-part MNS name), with nothing of the queue driver in between.
func newSDKClient(addr string, tok stsToken, conns int) (*mnsqueue.SDKClient, error) {
	return mnsqueue.NewSDKClient(mnsqueue.SDKClientConfig{
		Endpoint: "http://" + addr, AccessKeyID: tok.id, AccessKeySecret: tok.secret, SecurityToken: tok.token,
		MaxConns: conns,
	})
}

// isEmpty says whether an SDK receive error means the queue had no message.
func isEmpty(err error) bool {
	return err != nil && ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err)
}

// receiveOne is ali_mns ReceiveMessage with its channels folded into a return value.
func receiveOne(q ali_mns.AliMNSQueue, waitSeconds int64) (ali_mns.MessageReceiveResponse, error) {
	respCh := make(chan ali_mns.MessageReceiveResponse, 1)
	errCh := make(chan error, 1)
	if waitSeconds > 0 {
		q.ReceiveMessage(respCh, errCh, waitSeconds)
	} else {
		q.ReceiveMessage(respCh, errCh)
	}
	select {
	case r := <-respCh:
		return r, nil
	case err := <-errCh:
		return ali_mns.MessageReceiveResponse{}, err
	default:
		return ali_mns.MessageReceiveResponse{}, errors.New("the SDK returned neither a message nor an error")
	}
}

// receiveBatch is ali_mns BatchReceiveMessage with its channels folded into a return value.
func receiveBatch(q ali_mns.AliMNSQueue, n int32, waitSeconds int64) ([]ali_mns.MessageReceiveResponse, error) {
	respCh := make(chan ali_mns.BatchMessageReceiveResponse, 1)
	errCh := make(chan error, 1)
	if waitSeconds > 0 {
		q.BatchReceiveMessage(respCh, errCh, n, waitSeconds)
	} else {
		q.BatchReceiveMessage(respCh, errCh, n)
	}
	select {
	case r := <-respCh:
		return r.Messages, nil
	case err := <-errCh:
		return nil, err
	default:
		return nil, errors.New("the SDK returned neither messages nor an error")
	}
}
