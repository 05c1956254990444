// Package token owns the Alicom side of queue access: finding the caller's own credentials (the
// FC invocation's role, AccessKeys from the environment, or on Lambda an AWS Secrets Manager
// secret read at run time), calling Dybaseapi QueryTokenForMnsQueue for
// the temporary STS token that opens an Alicom-owned MNS queue, and caching that token per message
// type for the life of a warm instance: refreshed ahead of expiry, one fetch at a time, a fetch
// that failed for a passing reason retried (internal/retry) within the caller's deadline, and a
// token the queue server rejects dropped (Cache.Reject) at most once per RejectionHoldoff.
// Every Dybaseapi answer is read with a limit (DybaseapiConfig.MaxResponseBytes).
//
// Failures say what kind they are (Cause): the caller's credentials missing (ErrNoCredentials),
// Dybaseapi unreachable (ErrUnavailable), or refusing (ErrRefused).
//
// Every type that carries a secret (Credentials, Token) redacts itself in String, GoString,
// Format, LogValue and MarshalJSON, and every error built here names codes and request ids, never
// secrets, so logging any value or error from this package is safe.
//
// The package imports no platform (Function Compute, Lambda) types: a runtime adapter puts the
// invocation's credentials into the context with WithCredentials.
package token
