package platform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	fcevents "github.com/aliyun/fc-runtime-go-sdk/events"
	awsevents "github.com/aws/aws-lambda-go/events"
)

// TriggerKind says what kind of event started an invocation.
type TriggerKind string

// The trigger kinds the drain function accepts.
const (
	FCTimer        TriggerKind = "fc-timer"
	LambdaSchedule TriggerKind = "lambda-schedule"
	// Manual is an empty event ({} or nothing), as sent by `s invoke` or a console test.
	Manual TriggerKind = "manual"
)

// Trigger is the platform event that started an invocation, reduced to what the report shows.
type Trigger struct {
	Kind    TriggerKind `json:"kind"`
	Name    string      `json:"name,omitempty"`
	Time    time.Time   `json:"time,omitzero"`
	Payload string      `json:"payload,omitempty"`
}

// ErrUnknownEvent is returned for an event that is none of the accepted kinds.
var ErrUnknownEvent = errors.New("platform: unrecognised event")

// ParseTrigger recognises an FC timer event, a Lambda (EventBridge) scheduled event, or an
// empty event. Anything else is an error that says what was expected, so a mis-wired trigger
// shows up in the first invocation's log rather than as a silent drain.
func ParseTrigger(raw []byte) (Trigger, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return Trigger{Kind: Manual}, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return Trigger{}, fmt.Errorf("%w: not a JSON object: %v", ErrUnknownEvent, err)
	}
	switch {
	case len(probe) == 0:
		return Trigger{Kind: Manual}, nil
	case probe["triggerTime"] != nil || probe["triggerName"] != nil:
		return parseFCTimer(raw)
	case probe["detail-type"] != nil:
		return parseLambdaSchedule(raw)
	}
	return Trigger{}, fmt.Errorf("%w: expected an FC timer event {\"triggerTime\",\"triggerName\",\"payload\"}, "+
		"a Lambda scheduled event {\"detail-type\":\"Scheduled Event\",...} or {}", ErrUnknownEvent)
}

func parseFCTimer(raw []byte) (Trigger, error) {
	var ev fcevents.TimerEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Trigger{}, fmt.Errorf("%w: FC timer event: %v", ErrUnknownEvent, err)
	}
	t := Trigger{Kind: FCTimer}
	if ev.TriggerName != nil {
		t.Name = *ev.TriggerName
	}
	if ev.Payload != nil {
		t.Payload = *ev.Payload
	}
	if ev.TriggerTime != nil && *ev.TriggerTime != "" {
		tt, err := time.Parse(time.RFC3339, *ev.TriggerTime)
		if err != nil {
			return Trigger{}, fmt.Errorf("%w: FC timer event: triggerTime %q is not RFC 3339", ErrUnknownEvent, *ev.TriggerTime)
		}
		t.Time = tt
	}
	return t, nil
}

func parseLambdaSchedule(raw []byte) (Trigger, error) {
	var ev awsevents.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Trigger{}, fmt.Errorf("%w: EventBridge event: %v", ErrUnknownEvent, err)
	}
	if ev.DetailType != "Scheduled Event" {
		return Trigger{}, fmt.Errorf("%w: EventBridge event of detail-type %q: expected \"Scheduled Event\"", ErrUnknownEvent, ev.DetailType)
	}
	t := Trigger{Kind: LambdaSchedule, Time: ev.Time}
	if len(ev.Resources) > 0 {
		t.Name = ev.Resources[0]
	}
	return t, nil
}
