// Package internalauth is how one service calls another's internal-only
// operations, and how the one called decides whether to answer: a guard
// (net/http middleware built from the callee's OpenAPI contract), a client
// transport, and a token service's exchange. It reads no environment
// variable and names no service: a service maps its own configuration onto
// the options.
//
// # The threat
//
// An endpoint meant only for other services is still an HTTP endpoint. It
// ends up reachable from where it should not be, guarded by a default or
// leaked secret, unlogged, open to every caller for every operation, or,
// once a caller's credential leaks, open for every user. Each defence below
// answers one of those.
//
// # The design
//
//  1. The contract says who may call what. The internal contract declares
//     an apiKey scheme on X-Internal-Token (which workload calls) and one on
//     X-Subject-Token (for whom), both in the one security requirement of
//     every operation, and per operation x-allowed-callers (who may call it)
//     and x-on-behalf-of (for whom a call is made: a path parameter, `none`,
//     or `any` with the `check` that stands in; contract.go). New refuses a
//     contract with an operation that lacks either extension: what is not
//     said is not allowed.
//  2. kin-openapi's validator enforces it. The guard finds the request's
//     operation in the contract (an unknown path is a 404 before any
//     credential is looked at) and has the operation's security requirement
//     checked by openapi3filter with itself as the AuthenticationFunc: a call
//     without a valid credential is a 401. A known caller the operation does
//     not list is a 403 of its own problem type (…caller-forbidden), which the
//     caller's client counts against the callee; a refusal about the call's
//     user (…forbidden, or a 429 whose RateLimit field names a "subject-"
//     budget) it should not count, since it says nothing about the callee.
//  3. The credential says which workload calls:
//     - a static token (WithTokens): at least MinTokenLength characters,
//     kept as a SHA-256 digest and compared in constant time against every
//     accepted token without stopping early. A leaked token works until it
//     is rotated; keep it inside TLS across hosts.
//     - a SPIFFE identity (WithSPIFFE): on a mutual-TLS connection made with
//     the caller's X.509-SVID, a JWT-SVID for this service, at most 5
//     minutes to live, whose subject is the SPIFFE ID of that certificate
//     (svid.go): a JWT-SVID copied out of a request is useless without that
//     workload's private key. A connection with a client certificate is held
//     to these rules even when tokens are accepted too, so it cannot
//     downgrade.
//  4. The subject token says for whom (package subject). The token service
//     signs it with its access tokens' key: sub the user, aud this callee,
//     op the operation, azp the caller, at most a minute to live. The guard
//     verifies it after the credential (401 invalid or expired), then
//     refuses with 403 a token for another user (than the parameter
//     x-on-behalf-of names), another operation or another caller. A leaked
//     caller credential alone reads nothing.
//  5. Subject tokens come from an exchange (Exchanger, exchange.go). A
//     caller serving a request whose user it has verified gives that user's
//     access token to the token service and gets a token for one (callee,
//     operation): one that a callee's contract, given to the token service
//     as configuration (Exchanger.Serve), declares, asked by a caller its
//     x-allowed-callers lists, for a session still live, a few a minute per
//     user and operation. A new service needs its contract there and no
//     code. The caller keeps each token until shortly before it expires
//     (SubjectCache).
//  6. Every budget is on unless switched off by name. Each call spends a
//     unit of a failure budget (per client address, or per SPIFFE ID on a
//     certificate connection) before its credential is looked at, given back
//     when it is accepted: a guesser gets a handful of tries a minute. An
//     accepted caller spends its own request budget, and each (operation,
//     subject) one of its own: a compromised caller reads a user's data only
//     that often. Options left out get these defaults in memory; a nil
//     budget is an error, limit.Unlimited the explicit off.
//  7. Every call leaves a line. A refusal: WARN with the reason (a closed
//     set, Reasons) and the client address, never a credential. An accepted
//     call: its audit event (Hooks.Accepted, or an INFO line) names the
//     caller, its SPIFFE ID, the kind of credential, the verified subject
//     and the subject token's jti; CallFrom gives the handler the same.
//  8. No user's token in clear, no redirect followed. A Transport whose
//     requests carry users' access tokens (UserTokens: the exchange) sends
//     none over plain HTTP to a host other than loopback; no internal client
//     should follow a redirect (RefuseRedirect), which would resend the
//     credential and the body wherever the callee's address pointed.
//  9. It fails closed. A guard that accepts no credential, or whose contract
//     has operations made for a user but which verifies no subject tokens,
//     cannot be built; an operation not in the contract lets nobody in;
//     nothing exported compares a presented credential outside the guard's
//     budget, log and hooks.
//
// # Using it
//
// The callee parses its contract and wraps its handler:
//
//	guard, err := internalauth.New(contract,
//		internalauth.WithName("households-service"),
//		internalauth.WithTokens(tokens...),
//		internalauth.WithSubjects(subject.NewVerifier(subject.NewRemoteKeys(jwksURL, 0), issuer)))
//	http.ListenAndServe(addr, guard.Handler(mux))
//
// The caller sends its requests through a Transport, under ForSubject for
// the user it serves. Health, docs, listeners and TLS stay the service's
// business; examples/households is a whole service in a page.
package internalauth
