package alicom

import "encoding/json"

// Field names per type, lower-cased, for unknownKey.
var (
	smsReportNames = lowerAll("phone_number", "success", "biz_id", "out_id", "send_time",
		"report_time", "err_code", "err_msg", "sms_size",
		"To", "Status", "MessageId", "SmsSize", "SendDate", "ReceiveDate", "ErrorCode",
		"ErrorDescription", "TaskId")
	smsUpNames       = lowerAll("phone_number", "content", "sign_name", "send_time", "dest_code", "sequence_id")
	voiceReportNames = lowerAll("call_id", "originate_time", "ring_time", "start_time", "end_time",
		"caller", "callee", "duration", "status_code", "early_media_code", "hangup_direction",
		"status_msg", "out_id", "dtmf", "voice_type", "dialog_id", "toll_type")
	voiceCallReportNames = lowerAll("call_id", "status_code", "smart_status_code", "status_time", "out_id", "dtmf")
	cardTemplateNames    = lowerAll("template_code", "approval_status", "desc", "extData", "tmpOps")
)

// Each fast* function fills v from data and reports success; on false, v is partly filled and
// the caller must start again from a zero value with encoding/json.

func fastSmsReport(data []byte, v *SmsReport) bool {
	it := newObjIter(data)
	for it.next() {
		if it.keyEsc {
			return false
		}
		val := it.val
		var ok bool
		switch string(it.key) {
		case "phone_number":
			ok = it.setString(&v.PhoneNumber)
		case "success":
			ok = v.Success.UnmarshalJSON(val) == nil
		case "biz_id":
			ok = it.setString(&v.BizID)
		case "out_id":
			ok = it.setString(&v.OutID)
		case "send_time":
			ok = v.SendTime.UnmarshalJSON(val) == nil
		case "report_time":
			ok = v.ReportTime.UnmarshalJSON(val) == nil
		case "err_code":
			ok = it.setString(&v.ErrCode)
		case "err_msg":
			ok = it.setString(&v.ErrMsg)
		case "sms_size":
			ok = it.setFlex(&v.SmsSize)
		case "To", "Status", "MessageId", "SmsSize", "SendDate", "ReceiveDate", "ErrorCode",
			"ErrorDescription", "TaskId":
			// encoding/json allocates the embedded struct as soon as one of its keys appears.
			if v.IntlSmsReport == nil {
				v.IntlSmsReport = new(IntlSmsReport)
			}
			ok = fastIntl(&it, v.IntlSmsReport)
		default:
			ok = unknownKey(it.key, smsReportNames)
		}
		if !ok {
			return false
		}
	}
	return it.ok()
}

func fastIntl(it *objIter, v *IntlSmsReport) bool {
	val := it.val
	switch string(it.key) {
	case "To":
		return it.setString(&v.To)
	case "Status":
		return it.setFlex(&v.Status)
	case "MessageId":
		return it.setString(&v.MessageID)
	case "SmsSize":
		return it.setFlex(&v.SmsSize)
	case "SendDate":
		return v.SendDate.UnmarshalJSON(val) == nil
	case "ReceiveDate":
		return v.ReceiveDate.UnmarshalJSON(val) == nil
	case "ErrorCode":
		return it.setString(&v.ErrorCode)
	case "ErrorDescription":
		return it.setString(&v.ErrorDescription)
	case "TaskId":
		return it.setFlex(&v.TaskID)
	}
	return false
}

func fastSmsUp(data []byte, v *SmsUp) bool {
	it := newObjIter(data)
	for it.next() {
		if it.keyEsc {
			return false
		}
		val := it.val
		var ok bool
		switch string(it.key) {
		case "phone_number":
			ok = it.setString(&v.PhoneNumber)
		case "content":
			ok = it.setString(&v.Content)
		case "sign_name":
			ok = it.setString(&v.SignName)
		case "send_time":
			ok = v.SendTime.UnmarshalJSON(val) == nil
		case "dest_code":
			ok = it.setString(&v.DestCode)
		case "sequence_id":
			ok = it.setFlex(&v.SequenceID)
		default:
			ok = unknownKey(it.key, smsUpNames)
		}
		if !ok {
			return false
		}
	}
	return it.ok()
}

func fastVoiceReport(data []byte, v *VoiceReport) bool {
	it := newObjIter(data)
	for it.next() {
		if it.keyEsc {
			return false
		}
		val := it.val
		var ok bool
		switch string(it.key) {
		case "call_id":
			ok = it.setString(&v.CallID)
		case "originate_time":
			ok = v.OriginateTime.UnmarshalJSON(val) == nil
		case "ring_time":
			ok = v.RingTime.UnmarshalJSON(val) == nil
		case "start_time":
			ok = v.StartTime.UnmarshalJSON(val) == nil
		case "end_time":
			ok = v.EndTime.UnmarshalJSON(val) == nil
		case "caller":
			ok = it.setString(&v.Caller)
		case "callee":
			ok = it.setString(&v.Callee)
		case "duration":
			ok = it.setFlex(&v.Duration)
		case "status_code":
			ok = it.setFlex(&v.StatusCode)
		case "early_media_code":
			ok = it.setFlex(&v.EarlyMediaCode)
		case "hangup_direction":
			ok = it.setFlex(&v.HangupDirection)
		case "status_msg":
			ok = it.setString(&v.StatusMsg)
		case "out_id":
			ok = it.setString(&v.OutID)
		case "dtmf":
			ok = it.setFlex(&v.Dtmf)
		case "voice_type":
			ok = it.setString(&v.VoiceType)
		case "dialog_id":
			ok = it.setFlex(&v.DialogID)
		case "toll_type":
			ok = it.setString(&v.TollType)
		default:
			ok = unknownKey(it.key, voiceReportNames)
		}
		if !ok {
			return false
		}
	}
	return it.ok()
}

func fastVoiceCallReport(data []byte, v *VoiceCallReport) bool {
	it := newObjIter(data)
	for it.next() {
		if it.keyEsc {
			return false
		}
		val := it.val
		var ok bool
		switch string(it.key) {
		case "call_id":
			ok = it.setString(&v.CallID)
		case "status_code":
			ok = it.setString(&v.StatusCode)
		case "smart_status_code":
			ok = it.setString(&v.SmartStatusCode)
		case "status_time":
			ok = v.StatusTime.UnmarshalJSON(val) == nil
		case "out_id":
			ok = it.setString(&v.OutID)
		case "dtmf":
			ok = it.setString(&v.Dtmf)
		default:
			ok = unknownKey(it.key, voiceCallReportNames)
		}
		if !ok {
			return false
		}
	}
	return it.ok()
}

func fastCardTemplate(data []byte, v *MnsCardTemplate) bool {
	it := newObjIter(data)
	for it.next() {
		if it.keyEsc {
			return false
		}
		val := it.val
		var ok bool
		switch string(it.key) {
		case "template_code":
			ok = it.setString(&v.TemplateCode)
		case "approval_status":
			ok = v.ApprovalStatus.UnmarshalJSON(val) == nil
		case "desc":
			ok = it.setString(&v.Desc)
		case "extData":
			ok = v.ExtData.UnmarshalJSON(val) == nil
		case "tmpOps":
			// Nested and rare: encoding/json on the member alone, which is what it would do
			// as part of the whole document.
			ok = json.Unmarshal(val, &v.TmpOps) == nil
		default:
			ok = unknownKey(it.key, cardTemplateNames)
		}
		if !ok {
			return false
		}
	}
	return it.ok()
}
