package alicom

import (
	"encoding/json"
	"strings"
)

// Message types with a typed body in this package, as registered in registry.go. The names are
// the MessageType Alicom uses when issuing queue tokens and naming queues
// (Alicom-Queue-<uid>-<MessageType>), and the type in the URL of an HTTP batch push.
const (
	TypeSmsReport            = "SmsReport"
	TypeSmsUp                = "SmsUp"
	TypeVoiceReport          = "VoiceReport"
	TypeVoiceCallReport      = "VoiceCallReport"
	TypeDypnsSmsVerifyReport = "DypnsSmsVerifyReport"
	TypeMnsCardTemplate      = "MnsCardTemplate"
)

// queuePrefix starts the name of every queue Alicom creates for a customer.
const queuePrefix = "Alicom-Queue-"

// TypeFromQueueName returns the message type encoded in an Alicom queue name
// (Alicom-Queue-<customerUid>-<MessageType>), or "" when name is not of that form. The drain
// uses it when the configuration names queues but not their types.
func TypeFromQueueName(name string) string {
	rest, ok := strings.CutPrefix(name, queuePrefix)
	if !ok {
		return ""
	}
	uid, typ, ok := strings.Cut(rest, "-")
	if !ok || uid == "" || typ == "" || strings.Contains(typ, "-") {
		return ""
	}
	return typ
}

// SmsReport is an SMS delivery receipt. The domestic (cn-hangzhou) receipt fills the
// snake_case fields; the international (ap-southeast-1) receipt arrives under the same
// MessageType with different, capitalised fields, which land in the embedded IntlSmsReport
// (nil for a domestic receipt). The same struct holds an item of Alicom's HTTP batch push,
// whose newer API definition adds MessageID, RequestID, SignName and TemplateCode.
//
// It marshals to the normalized form: a domestic receipt as its snake_case fields (the four
// newer ones only when set), an international one (no snake_case field set) as its
// capitalised fields only, so no zero domestic field (success false) misleads a reader.
type SmsReport struct {
	// PhoneNumber is the recipient.
	PhoneNumber string `json:"phone_number"`
	// Success says whether the SMS reached the handset; sent as a boolean, as "true"/"false"
	// or as 1/0.
	Success FlexBool `json:"success"`
	// BizID is the BizId SendSms returned, e.g. "900619746936498440^0".
	BizID string `json:"biz_id"`
	// OutID is the OutId given to SendSms; often missing or empty.
	OutID string `json:"out_id"`
	// SendTime is when the SMS was handed to the carrier.
	SendTime Time `json:"send_time"`
	// ReportTime is when the carrier's receipt arrived.
	ReportTime Time `json:"report_time"`
	// ErrCode is the carrier or Alicom status code, e.g. "DELIVERED" or "UNKNOW".
	ErrCode string `json:"err_code"`
	// ErrMsg describes ErrCode, e.g. "用户接收成功".
	ErrMsg string `json:"err_msg"`
	// SmsSize is the number of segments, sent as "1" or 1; an old document shows "1,2,3",
	// which is kept (and marshalled) as text.
	SmsSize FlexNumber `json:"sms_size"`
	// MessageID is the message id of the HTTP batch push's newer API definition; empty in
	// queue bodies.
	MessageID string `json:"message_id,omitempty"`
	// RequestID is the request id of the HTTP batch push's newer API definition.
	RequestID string `json:"request_id,omitempty"`
	// SignName is the signature the SMS was sent with (HTTP batch push, newer definition).
	SignName string `json:"sign_name,omitempty"`
	// TemplateCode is the template the SMS was sent with (HTTP batch push, newer definition).
	TemplateCode string `json:"template_code,omitempty"`

	// IntlSmsReport holds the fields of the international receipt; nil for a domestic one.
	*IntlSmsReport
}

// Delivered reports whether the receipt says the SMS reached the handset, for either form:
// Success for a domestic receipt, Status 1 for an international one.
func (r SmsReport) Delivered() bool {
	if r.IntlSmsReport != nil {
		return r.Status == "1"
	}
	return bool(r.Success)
}

// Key returns biz_id + ":" + phone_number, or for an international receipt MessageId + ":" +
// To; "" when either part is missing.
func (r SmsReport) Key() string {
	if r.IntlSmsReport != nil && r.BizID == "" {
		return join(r.IntlSmsReport.MessageID, r.To)
	}
	return join(r.BizID, r.PhoneNumber)
}

// MarshalJSON writes the normalized form described on SmsReport.
func (r SmsReport) MarshalJSON() ([]byte, error) {
	if r.IntlSmsReport != nil {
		domestic := r
		domestic.IntlSmsReport = nil
		if domestic == (SmsReport{}) {
			return json.Marshal(r.IntlSmsReport)
		}
	}
	type fields SmsReport // the same fields without this method
	return json.Marshal(fields(r))
}

// IntlSmsReport holds the fields of an international SmsReport (ap-southeast-1).
type IntlSmsReport struct {
	// To is the recipient.
	To string `json:"To"`
	// Status is 1 delivered, 2 failed, 6 expired; sent as a number or a string.
	Status FlexNumber `json:"Status"`
	// MessageID is the id SendMessageToGlobe returned.
	MessageID string `json:"MessageId"`
	// SmsSize is the number of segments.
	SmsSize FlexNumber `json:"SmsSize"`
	// SendDate is when the SMS was sent, e.g. "Thu, 25 Nov 2021 10:27:00 +0800".
	SendDate Time `json:"SendDate"`
	// ReceiveDate is when the receipt arrived.
	ReceiveDate Time `json:"ReceiveDate"`
	// ErrorCode is the status code.
	ErrorCode string `json:"ErrorCode"`
	// ErrorDescription describes ErrorCode.
	ErrorDescription string `json:"ErrorDescription"`
	// TaskID is present for messages sent in a batch task.
	TaskID FlexString `json:"TaskId"`
}

// DypnsSmsVerifyReport is the receipt of a verification-code SMS (phone number verification
// service). It has the fields of SmsReport; it is a type of its own so a handler can tell the
// two apart, and converts with SmsReport(r).
type DypnsSmsVerifyReport SmsReport

// Delivered reports whether the SMS reached the handset (see SmsReport.Delivered).
func (r DypnsSmsVerifyReport) Delivered() bool { return SmsReport(r).Delivered() }

// Key returns the business key of SmsReport.Key.
func (r DypnsSmsVerifyReport) Key() string { return SmsReport(r).Key() }

// MarshalJSON writes the normalized form of SmsReport.
func (r DypnsSmsVerifyReport) MarshalJSON() ([]byte, error) { return SmsReport(r).MarshalJSON() }

// SmsUp is an inbound SMS: a user replied to a message.
type SmsUp struct {
	// PhoneNumber is the sender.
	PhoneNumber string `json:"phone_number"`
	// Content is the reply text, any Unicode including emoji.
	Content string `json:"content"`
	// SignName is the signature the user replied to; optional.
	SignName string `json:"sign_name"`
	// SendTime is when the user sent it; documented both as yyyy-MM-dd HH:mm:ss and as
	// yyyyMMddHHmmss, both are accepted.
	SendTime Time `json:"send_time"`
	// DestCode is the extension code.
	DestCode string `json:"dest_code"`
	// SequenceID is the message sequence id, documented both as a number and as a string; its
	// digits are kept exactly (it may exceed what float64 or int64 can hold), and it marshals
	// as a string, like every identifier, so no reader rounds it.
	SequenceID FlexString `json:"sequence_id"`
}

// Key returns phone_number:dest_code:sequence_id:send_time (yyyyMMddHHmmss, Beijing time);
// "" without a phone_number or a sequence_id.
func (u SmsUp) Key() string {
	if u.PhoneNumber == "" || u.SequenceID == "" {
		return ""
	}
	return u.PhoneNumber + ":" + u.DestCode + ":" + string(u.SequenceID) + ":" + u.SendTime.compact()
}

// VoiceReport is a voice call record. Fields whose type Alibaba documents only by a digit
// example are FlexString, so a number on the wire does not reject the whole record.
type VoiceReport struct {
	// CallID identifies the call, e.g. "100001616500^100001871490".
	CallID string `json:"call_id"`
	// OriginateTime is when the call was placed.
	OriginateTime Time `json:"originate_time"`
	// RingTime is when the callee's phone started ringing; zero if it never did.
	RingTime Time `json:"ring_time"`
	// StartTime is when the call was answered.
	StartTime Time `json:"start_time"`
	// EndTime is when the call ended.
	EndTime Time `json:"end_time"`
	// Caller is the calling number shown to the callee.
	Caller string `json:"caller"`
	// Callee is the called number.
	Callee string `json:"callee"`
	// Duration is the call length in seconds as sent: seen as "10" and as "10秒"; see
	// DurationSeconds.
	Duration Seconds `json:"duration"`
	// StatusCode is the call status, e.g. "200010".
	StatusCode FlexString `json:"status_code"`
	// EarlyMediaCode is the status recognised from the carrier's early media.
	EarlyMediaCode FlexString `json:"early_media_code"`
	// HangupDirection says which side hung up.
	HangupDirection FlexString `json:"hangup_direction"`
	// StatusMsg describes StatusCode.
	StatusMsg string `json:"status_msg"`
	// OutID is the OutId given when the call was requested.
	OutID string `json:"out_id"`
	// Dtmf holds the keys the callee pressed.
	Dtmf FlexString `json:"dtmf"`
	// VoiceType is the kind of call (voice file, TTS, ...).
	VoiceType string `json:"voice_type"`
	// DialogID identifies an interactive voice dialog.
	DialogID FlexString `json:"dialog_id"`
	// TollType is the tariff class of the call.
	TollType string `json:"toll_type"`
}

// DurationSeconds returns Duration as a number of seconds, accepting the "10秒" form, and false
// when Duration is empty or not a whole number of seconds.
func (r VoiceReport) DurationSeconds() (int, bool) { return r.Duration.Int() }

// Key returns call_id: Alicom sends one record per call.
func (r VoiceReport) Key() string { return r.CallID }

// VoiceCallReport is a voice call status change. Alibaba documents every field as a string.
type VoiceCallReport struct {
	// CallID identifies the call.
	CallID string `json:"call_id"`
	// StatusCode is the call status.
	StatusCode string `json:"status_code"`
	// SmartStatusCode is the status recognised by the smart voice service.
	SmartStatusCode string `json:"smart_status_code"`
	// StatusTime is when the status was reached.
	StatusTime Time `json:"status_time"`
	// OutID is the OutId given when the call was requested.
	OutID string `json:"out_id"`
	// Dtmf holds the keys the callee pressed.
	Dtmf string `json:"dtmf"`
}

// Key returns call_id:status_code:status_time (yyyyMMddHHmmss, Beijing time), since a call
// reports several statuses; "" without a call_id.
func (r VoiceCallReport) Key() string {
	if r.CallID == "" {
		return ""
	}
	return r.CallID + ":" + r.StatusCode + ":" + r.StatusTime.compact()
}

// MnsCardTemplate is the audit result of a card-SMS template.
type MnsCardTemplate struct {
	// TemplateCode is the template audited.
	TemplateCode string `json:"template_code"`
	// ApprovalStatus is the audit status; sent as an integer, accepted as a digit string too.
	ApprovalStatus FlexInt `json:"approval_status"`
	// Desc explains the result.
	Desc string `json:"desc"`
	// ExtData is extra data, sent either as a JSON object or as a string (which usually holds
	// JSON); it is kept exactly as sent. ExtDataJSON unwraps the string form, and so does the
	// normalized JSON when the string holds valid JSON.
	ExtData json.RawMessage `json:"extData"`
	// TmpOps lists the audit result per carrier.
	TmpOps []CardTemplateOp `json:"tmpOps"`
}

// ExtDataJSON returns ExtData with the string form unwrapped: for "extData":"{\"a\":1}" it
// returns {"a":1}; an object (or any non-string value) is returned as is, and a missing or
// null extData as nil. The unwrapped string is not checked to be JSON.
func (t MnsCardTemplate) ExtDataJSON() (json.RawMessage, error) {
	v := trimSpace(t.ExtData)
	if len(v) == 0 || string(v) == "null" {
		return nil, nil
	}
	if v[0] != '"' {
		return v, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, err
	}
	return json.RawMessage(s), nil
}

// MarshalJSON writes the normalized form: extData as the JSON object or array a string form
// holds (a string holding anything else stays a string), approval_status and each state as
// numbers.
func (t MnsCardTemplate) MarshalJSON() ([]byte, error) {
	type fields MnsCardTemplate // the same fields without this method
	if ext, err := t.ExtDataJSON(); err == nil && len(trimSpace(ext)) > 0 {
		if c := trimSpace(ext)[0]; (c == '{' || c == '[') && json.Valid(ext) {
			t.ExtData = ext
		}
	}
	return json.Marshal(fields(t))
}

// CardTemplateOp is one carrier's audit result of a card-SMS template.
type CardTemplateOp struct {
	// State is the carrier's audit state, sent as a number or a string.
	State FlexNumber `json:"state"`
	// Desc explains State.
	Desc string `json:"desc"`
	// VendorCode names the carrier.
	VendorCode string `json:"vendorCode"`
}

// Raw is the body of a message type this package does not model, kept as the JSON object
// Alicom sent. It marshals back to that JSON (json.Marshal removes insignificant whitespace,
// as it does for every Marshaler).
type Raw json.RawMessage

// MarshalJSON returns the raw JSON (null for an empty Raw).
func (r Raw) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// join returns a + ":" + b, or "" when either is empty: half a key would merge unrelated
// events.
func join(a, b string) string {
	if a == "" || b == "" {
		return ""
	}
	return a + ":" + b
}

// UnmarshalJSON keeps a copy of data.
func (r *Raw) UnmarshalJSON(data []byte) error {
	*r = append((*r)[:0], data...)
	return nil
}

// Unmarshal decodes the raw JSON into v, for a handler that knows the shape of a type this
// package does not.
func (r Raw) Unmarshal(v any) error {
	return json.Unmarshal(r, v)
}
