// Package alicompush receives Alicom's HTTP batch push: the JSON array of receipts (or inbound
// SMS, voice reports, ...) that Alicom POSTs to the callback URL configured in its console,
// as the alternative to the MNS queues the drain reads.
//
// The contract is public and fixed: POST /alicom/<MessageType>?token=<ALICOM_PUSH_TOKEN> with
// the array Alicom sends is answered 200 {"code":0,"msg":"接收成功"} when every item was handled,
// dead-lettered or is a known duplicate; 403 on a missing or wrong token, decided before the
// body is read; 400 on a body that is not a JSON array of objects; 5xx when a handler or sink
// failed or ran out of time, so that Alicom retries the batch. Alicom signs nothing: the token
// in the URL is the only secret, compared in constant time and never logged.
//
// Each item becomes one dispatch.Message of the same shape as one from the queue (Body is the
// base64 of the item, Data the item, Payload the typed value) with Source "alicom-push" and a
// stable id, so handlers, deduplication and sinks see no other difference.
package alicompush
