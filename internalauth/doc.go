// Package internalauth is how one service calls another's internal-only
// operations, and how the one called decides whether to answer. It is the
// whole of this project's subject in one place; the services only wire it.
//
// # The threat
//
// An endpoint meant only for other services is still an HTTP endpoint. It
// ends up reachable from where it should not be, guarded by a default or
// leaked secret, unlogged, or open to every caller for every operation. Each
// defence below answers one of those.
//
// # The design
//
//  1. A listener of its own. Internal operations are served only on the
//     internal listener (Guard.Listener); public listeners answer 404 for
//     them and never mention them. The network should fence that port too
//     (see docs/deploying.md).
//  2. The contract says who may call what. openapi-internal.yaml declares an
//     apiKey scheme on X-Internal-Token required by every operation, and per
//     operation x-allowed-callers (who may call it) and x-on-behalf-of (for
//     whom a call is made; contract.go). tools/speclint refuses an internal
//     operation without them, or one made public with `security: []`.
//  3. The validator built from the contract enforces it. The guard is the
//     AuthenticationFunc of the InternalToken scheme (Guard.Handler), so a
//     call without a valid credential is a 401 before any parameter is looked
//     at, and a known caller the operation does not list is a 403 of its own
//     problem type (problem.TypeCallerForbidden), which its client counts as
//     a failure; a refusal about the call's user (a subject token's 403, the
//     per-subject 429 whose RateLimit field names "subject-requests") it
//     does not (upstream.Refusal, issue 33).
//  4. The credential says which workload calls (Config.Mode, INTERNAL_AUTH):
//     - token: a static secret per caller, at least 32 characters, kept as a
//     SHA-256 digest and compared in constant time against every accepted
//     token (tokens.go). A leaked token works until it is rotated by hand.
//     Across hosts the internal listener speaks TLS with a certificate from
//     files and callers verify it against a CA file (Config.TLS,
//     transport.go), so the token crosses no network in clear.
//     - spiffe: mutual TLS with the caller's X.509-SVID, and in the header a
//     JWT-SVID for the callee's SPIFFE ID, at most 5 minutes to live, whose
//     subject must be the SPIFFE ID of the certificate the connection was
//     made with (svid.go). A JWT-SVID copied out of a request is useless
//     without that workload's private key; no TLS session is resumed, so
//     every connection is checked against the current trust bundle.
//     - token+spiffe: either, for a migration; a connection with a client
//     certificate is held to the SPIFFE rules, so it cannot downgrade.
//  5. The subject says for whom. A call made for a user carries, in
//     X-Subject-Token (the SubjectToken scheme, required with InternalToken
//     in the one security requirement), a subject token the user service
//     signed with its access tokens' key: sub the user, aud this callee, op
//     the operation, azp the caller, at most 60 s to live. The guard checks
//     it after the credential (401 invalid or expired past 5 s, 403 for
//     another user, operation or caller) against the operation's
//     x-on-behalf-of, and spends a budget per (operation, subject). A
//     leaked credential alone reads nothing (docs/subject-tokens.md). The
//     user service mints the tokens of its own calls (Minter); another
//     service gets one by exchanging, at the user service, the access token
//     of the user whose request it serves (exchange.go: Exchanger serves
//     the exchange, SubjectCache asks for it once per user and operation).
//     The exchange takes only an access token the user service would
//     still accept itself (Exchanger.Live, the service's own session rule),
//     and a few a minute per user and operation (Exchanger.PerUser).
//  6. Guessing is bounded. Every call spends a unit of a failure budget
//     (per client IP, or per SPIFFE ID on a certificate connection) before
//     its credential is looked at; an accepted one gives it back, so a
//     guesser gets a handful of tries a minute and then 429.
//  7. Every call leaves a line. A refused call: WARN with the reason and the
//     client IP, never the credential. An accepted one: its access line is
//     the INFO audit event, naming the caller, its SPIFFE ID, the kind of
//     credential, the verified subject and its token's jti.
//  8. No user's token in clear, no redirect followed. A callee whose calls
//     carry users' access tokens (the exchange: CallRole.UserTokens) is
//     reached over TLS, or plain HTTP to a loopback host only; ReadConfig
//     refuses anything else and the client refuses such a request at run
//     time. No internal client follows a redirect (ErrRedirect): one would
//     resend the credential and the body wherever the callee's address
//     pointed.
//  9. It fails closed. A guard without the credentials its mode accepts
//     cannot be built, the validator refuses to exist without an
//     AuthenticationFunc, and an operation the guard has no policy for lets
//     nobody in.
//
// # Using it
//
// A service declares its Role (its name, the modes it offers, whom it
// serves and calls) and reads its Config once with ReadConfig. Open gives
// the Workload; Workload.Client is the HTTP client to call another service
// with (credential, request id and TLS set on every request), and
// Workload.Guard the guard of its own internal listener. A new internal
// operation needs its contract entry and its handler, no new wiring (see
// docs/adding-an-internal-endpoint.md).
package internalauth
