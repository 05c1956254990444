// Package token owns the Alicom side of queue access: finding the caller's own credentials (the
// platform's role or AccessKeys from the environment), calling Dybaseapi QueryTokenForMnsQueue for
// the temporary STS token that opens an Alicom-owned MNS queue, and caching that token per message
// type for the life of a warm instance (refresh ahead of expiry, one refresh at a time).
//
// Every type that carries a secret (Credentials, Token) redacts itself in String, GoString,
// Format, LogValue and MarshalJSON, and every error built here names codes and request ids, never
// secrets, so logging any value or error from this package is safe.
//
// The package imports no platform (Function Compute, Lambda) types: a runtime adapter puts the
// invocation's credentials into the context with WithCredentials.
package token
