package internalauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/common/router"
)

// The subject-token exchange (docs/subject-tokens.md): a service serving a
// request whose user it has verified (a valid access token) asks the user
// service for a subject token for the call it is about to make for that
// user, in the shape of an RFC 8693 token exchange: the user's access token
// is the subject_token, the callee the audience, the operationId the scope,
// and the asking workload authenticates with its own credential (the user
// service's internal listener checks it; the exchange is an internal
// operation like any other). So a workload gets subject tokens only for the
// users who are actually using it, for the operations the contract allows
// it, for at most as long as their access tokens live.
//
// Exchange is the user service's side (served as exchangeSubjectToken on
// its internal listener), SubjectCache the caller's.

// RFC 8693's names, and the type of the token issued.
const (
	GrantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeSubject     = "urn:jeeves4service:token-type:subject"
	exchangeNotABearer   = "N_A" // RFC 8693 2.2.1: the issued token is not an OAuth access token
	minExchangeRemaining = 5 * time.Second
)

// ExchangeRequest is an RFC 8693 token exchange request, as form fields.
type ExchangeRequest struct {
	GrantType          string `json:"grant_type"`
	SubjectToken       string `json:"subject_token"`
	SubjectTokenType   string `json:"subject_token_type"`
	Audience           string `json:"audience"`
	Scope              string `json:"scope"` // the callee's operationId
	RequestedTokenType string `json:"requested_token_type,omitempty"`
}

// ExchangeResponse is an RFC 8693 token exchange response.
type ExchangeResponse struct {
	AccessToken     string `json:"access_token"` // RFC 8693's name for the issued token: here a subject token
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int    `json:"expires_in"`
	// Subject and TokenID are the issued token's sub and jti, for the
	// exchange's audit line; they are not part of the answer.
	Subject string `json:"-"`
	TokenID string `json:"-"`
}

// ExchangeError is a refused exchange: the request field at fault, its RFC
// 6749 error code (invalid_request, invalid_grant, invalid_target,
// unauthorized_client) and a description that never quotes a token.
type ExchangeError struct {
	Field, Code, Description string
	// Subject is the user of the access token when it was verified before
	// the refusal ("" otherwise), for the refusal's WARN line: a verified
	// token's user, never one read from an unverified token.
	Subject string
}

func (e *ExchangeError) Error() string { return e.Field + ": " + e.Code + ": " + e.Description }

// ExchangeLimited is an exchange refused because the user's exchange
// budget for the operation is spent (Exchanger.PerUser): the caller is
// asking again for tokens it should have kept (SubjectCache keeps each
// until shortly before it expires), or is minting them in bulk.
type ExchangeLimited struct {
	Subject, Operation string
	RetryAfter         time.Duration
}

func (e *ExchangeLimited) Error() string {
	return "the exchange budget of user " + e.Subject + " for " + e.Operation + " is spent"
}

// ExchangeBudgetName is the exchange budget's name in the RateLimit fields.
const ExchangeBudgetName = "subject-exchanges"

// Exchanger is the user service's side of the exchange.
type Exchanger struct {
	// Access verifies the user's access token (the user service's own).
	Access *jwtauth.Verifier
	// Signer signs the subject token (the same key).
	Signer *jwtauth.Signer
	// Policies are the internal contract's, by operationId: the asking
	// workload must be among the operation's x-allowed-callers, and the
	// operation must be one made for a user.
	Policies map[string]Policy
	// Audiences gives the identity of the service that serves an operation
	// in the form the asking workload authenticated with (its name, or its
	// SPIFFE ID); false for an operation the exchange does not serve.
	Audiences func(operation string, spiffe bool) (string, bool)
	// Live says whether the session of a verified access token is still
	// live (not ended by logout, a password change or deactivation). The
	// service that issued the token decides, by the same rule its own API
	// applies to it: a token its /me refuses is no subject_token either.
	// false refuses the exchange (invalid_grant); an error fails it. Required:
	// without it every exchange fails (fail closed), since a signature and an
	// expiry alone say nothing about a session that ended.
	Live func(ctx context.Context, user *jwtauth.Claims) (bool, error)
	// PerUser is the budget of exchanges of each (user, operation), whoever
	// asks (nil: none): a caller that keeps its tokens needs a few a minute,
	// and one that holds a user's access token gets no more than that.
	PerUser ratelimit.Limiter
	// TTL is the longest a subject token lives (at most jwtauth.MaxSubjectTTL).
	TTL time.Duration
	Now func() time.Time
}

// Exchange decides one exchange asked by the workload caller (its caller
// name, and its SPIFFE ID when it authenticated with a JWT-SVID, "" with a
// static token), already authenticated by the internal listener's guard.
func (x *Exchanger) Exchange(ctx context.Context, req ExchangeRequest, caller, callerID string) (ExchangeResponse, error) {
	refuse := func(field, code, desc string) (ExchangeResponse, error) {
		return ExchangeResponse{}, &ExchangeError{Field: field, Code: code, Description: desc}
	}
	switch {
	case req.GrantType != GrantTokenExchange:
		return refuse("grant_type", "unsupported_grant_type", "must be "+GrantTokenExchange)
	case req.SubjectToken == "":
		return refuse("subject_token", "invalid_request", "must be the user's access token")
	case req.SubjectTokenType != TokenTypeJWT:
		return refuse("subject_token_type", "invalid_request", "must be "+TokenTypeJWT)
	case req.RequestedTokenType != "" && req.RequestedTokenType != TokenTypeSubject:
		return refuse("requested_token_type", "invalid_request", "must be "+TokenTypeSubject)
	case req.Scope == "":
		return refuse("scope", "invalid_request", "must be the operationId of the call")
	case req.Audience == "":
		return refuse("audience", "invalid_request", "must be the callee")
	}
	policy, ok := x.Policies[req.Scope]
	if !ok || !policy.Subject {
		return refuse("scope", "invalid_target", "no operation made for a user has that operationId")
	}
	if !policy.Callers[caller] {
		return refuse("scope", "unauthorized_client", "the contract does not allow this caller that operation")
	}
	audience, ok := x.Audiences(req.Scope, callerID != "")
	if !ok || audience != req.Audience {
		return refuse("audience", "invalid_target", "that operation is not served by that audience")
	}
	if x.Live == nil {
		return ExchangeResponse{}, errors.New("exchange: no session check configured: every exchange fails")
	}
	user, err := x.Access.Verify(ctx, req.SubjectToken)
	if err != nil {
		return refuse("subject_token", "invalid_grant", "not a valid access token")
	}
	subject := strconv.FormatInt(user.UserID, 10)
	now := x.Now()
	ttl := min(x.TTL, jwtauth.MaxSubjectTTL, user.ExpiresAt.Sub(now))
	if ttl < minExchangeRemaining {
		return ExchangeResponse{}, &ExchangeError{Field: "subject_token", Code: "invalid_grant", Description: "expires too soon",
			Subject: subject}
	}
	// The budget before the session check: a flood of exchanges, refused or
	// not, costs the database nothing once the budget is spent.
	if err := x.spend(ctx, subject, req.Scope); err != nil {
		return ExchangeResponse{}, err
	}
	live, err := x.Live(ctx, user)
	if err != nil {
		return ExchangeResponse{}, fmt.Errorf("exchange: session check of user %s: %w", subject, err)
	}
	if !live {
		return ExchangeResponse{}, &ExchangeError{Field: "subject_token", Code: "invalid_grant",
			Description: "the session of the access token has ended", Subject: subject}
	}
	azp := caller
	if callerID != "" {
		azp = callerID
	}
	tok, claims, err := x.Signer.SignSubject(jwtauth.SubjectRequest{Subject: subject, Audience: audience,
		Operation: req.Scope, AuthorizedParty: azp}, ttl, now)
	if err != nil {
		return ExchangeResponse{}, fmt.Errorf("exchange: %w", err)
	}
	return ExchangeResponse{AccessToken: tok, IssuedTokenType: TokenTypeSubject, TokenType: exchangeNotABearer,
		ExpiresIn: int(ttl / time.Second), Subject: claims.Subject, TokenID: claims.ID}, nil
}

// spend takes one unit of the (user, operation) exchange budget. Its
// decision governs the answer's RateLimit fields when it is refused or
// closer to running out than the caller's request budget (as the guard's
// per-subject budget does), so a caller sees the budget it is spending.
func (x *Exchanger) spend(ctx context.Context, subject, operation string) error {
	if x.PerUser == nil {
		return nil
	}
	d := x.PerUser.Take(ctx, "exchange:"+operation+":"+subject)
	info := reqinfo.From(ctx)
	if !d.Allowed || info.RateLimit.Name == "" || d.Remaining < info.RateLimit.Decision.Remaining {
		info.RateLimit = ratelimit.Governing{Name: ExchangeBudgetName, Budget: x.PerUser.Budget(), Decision: d}
	}
	if !d.Allowed {
		return &ExchangeLimited{Subject: subject, Operation: operation, RetryAfter: d.RetryAfter}
	}
	return nil
}

// SubjectCache is the caller's side: a SubjectSource that asks exchange for
// a subject token, and keeps each (user, operation, audience)'s until
// Margin before it expires, so a burst of calls for one user costs one
// exchange. The user's access token comes with the Subject (Evidence); a
// cached token is given only for a call whose subject is the same user, and
// the cache never outlives the token it was given for.
type SubjectCache struct {
	// Exchange performs one exchange (the HTTP call to the user service).
	Exchange func(ctx context.Context, req ExchangeRequest) (ExchangeResponse, error)
	// Margin is how long before its expiry a cached token is replaced.
	Margin time.Duration
	// MaxEntries bounds the cache (it starts over when full).
	MaxEntries int
	Now        func() time.Time

	mu      sync.Mutex
	entries map[subjectKeyOf]cachedSubject
}

type subjectKeyOf struct{ user, operation, audience string }

type cachedSubject struct {
	token string
	until time.Time
}

// ErrNoEvidence means a call was made for a subject without the user's
// access token to exchange.
var ErrNoEvidence = errors.New("no access token to exchange for a subject token")

// Source returns the SubjectSource of the cache, reading the user's access
// token from the context's Subject.
func (c *SubjectCache) Source() SubjectSource {
	return func(ctx context.Context, req jwtauth.SubjectRequest) (string, error) {
		s, _ := ctx.Value(subjectKey{}).(Subject)
		if s.Evidence == "" {
			return "", ErrNoEvidence
		}
		key := subjectKeyOf{req.Subject, req.Operation, req.Audience}
		now := c.Now()
		c.mu.Lock()
		hit, ok := c.entries[key]
		c.mu.Unlock()
		if ok && now.Before(hit.until) {
			return hit.token, nil
		}
		// The exchange is itself an internal call, made for nobody: without
		// the subject, the client would ask this source again for it.
		forNobody := context.WithValue(ctx, subjectKey{}, nil)
		resp, err := c.Exchange(forNobody, ExchangeRequest{GrantType: GrantTokenExchange, SubjectToken: s.Evidence,
			SubjectTokenType: TokenTypeJWT, Audience: req.Audience, Scope: req.Operation, RequestedTokenType: TokenTypeSubject})
		if err != nil {
			return "", fmt.Errorf("exchange for a subject token: %w", err)
		}
		if resp.IssuedTokenType != TokenTypeSubject || resp.AccessToken == "" {
			return "", errors.New("exchange for a subject token: the answer is no subject token")
		}
		// The callee verifies the token; this only keeps a token for
		// another user (the access token was someone else's) out of the
		// cache entry of this one.
		var claims jwtauth.SubjectClaims
		if _, _, err := jwt.NewParser().ParseUnverified(resp.AccessToken, &claims); err != nil || claims.Subject != req.Subject {
			return "", errors.New("exchange for a subject token: the answer is for another subject")
		}
		until := now.Add(time.Duration(resp.ExpiresIn)*time.Second - c.Margin)
		c.mu.Lock()
		if c.entries == nil || len(c.entries) >= max(c.MaxEntries, 1) {
			c.entries = map[subjectKeyOf]cachedSubject{}
		}
		if until.After(now) {
			c.entries[key] = cachedSubject{token: resp.AccessToken, until: until}
		}
		c.mu.Unlock()
		return resp.AccessToken, nil
	}
}

// ServedBy returns an Audiences function for a service called self (and
// selfID, its SPIFFE ID, "" in token mode) that serves the operations served.
func ServedBy(self, selfID string, served ...string) func(string, bool) (string, bool) {
	return func(op string, spiffe bool) (string, bool) {
		if !slices.Contains(served, op) {
			return "", false
		}
		if spiffe {
			return selfID, selfID != ""
		}
		return self, true
	}
}

// ExchangeOptions are what an Exchanger needs from the service that signs
// subject tokens besides its keys: see Exchanger's Live and PerUser.
type ExchangeOptions struct {
	Live    func(ctx context.Context, user *jwtauth.Claims) (bool, error)
	PerUser ratelimit.Limiter
}

// Exchanger returns the exchange of the service that signs subject tokens
// (the user service): access verifies its users' access tokens, signer signs
// with the same key, c is the internal contract it serves (the operations
// an exchange may issue a token for, and who may call each), o its session
// check (required) and exchange budget. The subject tokens it issues live
// MaxSubjectTTL, never past the access token.
func (w *Workload) Exchanger(access *jwtauth.Verifier, signer *jwtauth.Signer, c router.Contract,
	o ExchangeOptions) (*Exchanger, error) {
	if o.Live == nil {
		return nil, errors.New("internalauth: an exchanger needs a session check (an ended session's token must be refused)")
	}
	policies, err := Policies(c.Spec)
	if err != nil {
		return nil, fmt.Errorf("internal contract: %w", err)
	}
	served := make([]string, 0, len(policies))
	for op := range policies {
		served = append(served, op)
	}
	selfID := ""
	if w.src != nil {
		selfID = w.src.ID().String()
	}
	return &Exchanger{Access: access, Signer: signer, Policies: policies, TTL: jwtauth.MaxSubjectTTL,
		Audiences: ServedBy(w.cfg.Name, selfID, served...), Live: o.Live, PerUser: o.PerUser, Now: time.Now}, nil
}
