package mnsqueue

import (
	"errors"
	"testing"

	"github.com/alicom-drain/alicom-drain/internal/queue"
)

func TestKindOfSaysWhichAnswersRejectTheToken(t *testing.T) {
	tests := []struct {
		name      string
		op, code  string
		message   string
		withToken bool
		want      error
	}{
		{"an expired token", "receive", "SecurityTokenExpired", "The security token you provided has expired.", true, queue.ErrTokenExpired},
		{"an expired token in another spelling", "delete", "InvalidSecurityToken.Expired", "", true, queue.ErrTokenExpired},
		{"an STS ExpiredToken", "receive", "ExpiredToken", "", true, queue.ErrTokenExpired},
		{"an invalid token", "receive", "InvalidSecurityToken", "The security token you provided is invalid.", true, queue.ErrTokenRejected},
		{"a malformed token", "receive", "SecurityTokenMalformed", "", true, queue.ErrTokenRejected},
		{"a key its issuer forgot", "receive", "InvalidAccessKeyId", "The access Id you provided is not exist.", true, queue.ErrTokenRejected},
		{"a key not found", "receive", "InvalidAccessKeyId.NotFound", "", true, queue.ErrTokenRejected},
		{"a secret that no longer matches the token's key", "delete", "SignatureDoesNotMatch", "", true, queue.ErrTokenRejected},
		{"access denied because of the token", "receive", "AccessDenied", "The security token you provided is invalid.", true, queue.ErrTokenRejected},
		{"access denied because the token expired", "receive", "AccessDenied", "security token has expired", true, queue.ErrTokenExpired},
		{"access denied by policy with a token", "receive", "AccessDenied", "The OwnerId that your Access Key Id associated to is forbidden for this operation.", true, queue.ErrAccessDenied},
		{"access denied by a RAM policy", "receive", "AccessDeniedByRamPolicy", "", true, queue.ErrAccessDenied},
		{"an unknown fixed key", "receive", "InvalidAccessKeyId", "", false, queue.ErrAccessDenied},
		{"a wrong fixed secret", "receive", "SignatureDoesNotMatch", "", false, queue.ErrAccessDenied},
		{"an empty queue", "receive", "MessageNotExist", "", true, queue.ErrEmpty},
		{"a stale handle", "delete", "MessageNotExist", "", true, queue.ErrStaleHandle},
		{"throttling", "receive", "QpsLimitExceeded", "", true, queue.ErrThrottled},
		{"a server fault", "delete", "InternalError", "", true, queue.ErrTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kindOf(tt.op, tt.code, tt.message, tt.withToken)
			if got != tt.want {
				t.Fatalf("kindOf(%s, %s) = %v, want %v", tt.op, tt.code, got, tt.want)
			}
			if rejected := errors.Is(got, queue.ErrTokenRejected); rejected != (tt.want == queue.ErrTokenRejected || tt.want == queue.ErrTokenExpired) {
				t.Fatalf("errors.Is(%v, ErrTokenRejected) = %v", got, rejected)
			}
		})
	}
}
