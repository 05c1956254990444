package alicom

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Message types with a typed body in this package. The names are the MessageType Alicom uses
// when issuing queue tokens and naming queues (Alicom-Queue-<uid>-<MessageType>).
const (
	TypeSmsReport            = "SmsReport"
	TypeSmsUp                = "SmsUp"
	TypeVoiceReport          = "VoiceReport"
	TypeVoiceCallReport      = "VoiceCallReport"
	TypeDypnsSmsVerifyReport = "DypnsSmsVerifyReport"
	TypeMnsCardTemplate      = "MnsCardTemplate"
)

// KnownTypes returns the message types Parse decodes into a typed value, in a new slice the
// caller may keep. Every other type parses to Raw.
func KnownTypes() []string {
	return []string{
		TypeSmsReport, TypeSmsUp, TypeVoiceReport, TypeVoiceCallReport,
		TypeDypnsSmsVerifyReport, TypeMnsCardTemplate,
	}
}

// IsKnown reports whether Parse decodes messageType into a typed value rather than Raw.
func IsKnown(messageType string) bool {
	_, ok := Zero(messageType)
	return ok
}

// Zero returns the zero payload value Parse produces for messageType (for example SmsReport{}
// for "SmsReport"), and false for a type parsed as Raw. Routers use it to check at
// registration that a typed handler asks for the type it will be given.
func Zero(messageType string) (any, bool) {
	switch messageType {
	case TypeSmsReport:
		return SmsReport{}, true
	case TypeSmsUp:
		return SmsUp{}, true
	case TypeVoiceReport:
		return VoiceReport{}, true
	case TypeVoiceCallReport:
		return VoiceCallReport{}, true
	case TypeDypnsSmsVerifyReport:
		return DypnsSmsVerifyReport{}, true
	case TypeMnsCardTemplate:
		return MnsCardTemplate{}, true
	}
	return nil, false
}

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
// (nil for a domestic receipt).
type SmsReport struct {
	// PhoneNumber is the recipient.
	PhoneNumber string `json:"phone_number"`
	// Success says whether the SMS reached the handset; sent as a boolean or as "true"/"false".
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
	// SmsSize is the number of segments ("1"; an old document shows "1,2,3"); string or number.
	SmsSize FlexString `json:"sms_size"`

	// IntlSmsReport holds the fields of the international receipt; nil for a domestic one.
	*IntlSmsReport
}

// Delivered reports whether the receipt says the SMS reached the handset, for either form:
// Success for a domestic receipt, Status "1" for an international one.
func (r SmsReport) Delivered() bool {
	if r.IntlSmsReport != nil {
		return r.Status == "1"
	}
	return bool(r.Success)
}

// IntlSmsReport holds the fields of an international SmsReport (ap-southeast-1).
type IntlSmsReport struct {
	// To is the recipient.
	To string `json:"To"`
	// Status is "1" delivered, "2" failed, "6" expired.
	Status FlexString `json:"Status"`
	// MessageID is the id SendMessageToGlobe returned.
	MessageID string `json:"MessageId"`
	// SmsSize is the number of segments.
	SmsSize FlexString `json:"SmsSize"`
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
	// digits are kept exactly (it may exceed what float64 or int64 can hold).
	SequenceID FlexString `json:"sequence_id"`
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
	Duration FlexString `json:"duration"`
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
func (r VoiceReport) DurationSeconds() (int, bool) {
	s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(r.Duration)), "秒"))
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

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

// MnsCardTemplate is the audit result of a card-SMS template.
type MnsCardTemplate struct {
	// TemplateCode is the template audited.
	TemplateCode string `json:"template_code"`
	// ApprovalStatus is the audit status; sent as an integer, accepted as a digit string too.
	ApprovalStatus FlexInt `json:"approval_status"`
	// Desc explains the result.
	Desc string `json:"desc"`
	// ExtData is extra data, sent either as a JSON object or as a string (which usually holds
	// JSON); it is kept exactly as sent. ExtDataJSON unwraps the string form.
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

// CardTemplateOp is one carrier's audit result of a card-SMS template.
type CardTemplateOp struct {
	// State is the carrier's audit state.
	State FlexString `json:"state"`
	// Desc explains State.
	Desc string `json:"desc"`
	// VendorCode names the carrier.
	VendorCode string `json:"vendorCode"`
}

// Raw is the body of a message type this package does not model, kept as the JSON object
// Alicom sent. It marshals back to that JSON.
type Raw json.RawMessage

// MarshalJSON returns the raw JSON (null for an empty Raw).
func (r Raw) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
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
