package internalauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/internalauth/limit"
	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

// The subject-token exchange: a service serving a request whose user it
// has verified (a valid access token) asks the token service (the service
// that signs its users in) for a subject token for the call it is about to make for that
// user, in the shape of an RFC 8693 token exchange: the user's access token
// is the subject_token, the callee the audience, the operationId the scope,
// and the asking workload authenticates with its own credential (the user
// service's internal listener checks it; the exchange is an internal
// operation like any other). So a workload gets subject tokens only for the
// users who are actually using it, for the operations the contracts allow
// it, for at most as long as their access tokens live.
//
// The exchange is driven by the contracts of the services it issues tokens
// for (Exchanger.Serve): a (callee, operation) the callee's contract
// declares, to a caller its x-allowed-callers lists. A new service or
// operation needs its contract entry, given to the token service as
// configuration, and no code there. (The OAuth Transaction Tokens draft
// gives its token service this role; this binding is stronger: one callee,
// one operation, one caller per token.)
//
// Exchanger is the token service's side, SubjectCache the caller's.

// RFC 8693's names, and the type of the token issued.
const (
	GrantTokenExchange      = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeJWT            = "urn:ietf:params:oauth:token-type:jwt"
	DefaultSubjectTokenType = "urn:internalauth:token-type:subject"
	exchangeNotABearer      = "N_A" // RFC 8693 2.2.1: the issued token is not an OAuth access token
	minExchangeRemaining    = 5 * time.Second
)

// ExchangeRequest is an RFC 8693 token exchange request: its fields and
// values, sent as a JSON body (ExchangeOver), not RFC 8693's form encoding.
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

// ExchangeBudgetName is the exchange budget's name in the RateLimit fields
// (a budget of one user: limit.SubjectPolicyPrefix).
const ExchangeBudgetName = limit.SubjectPolicyPrefix + "exchanges"

// AccessToken is a verified access token of the token service: the user it
// is for, when it expires, and the verifier's own claims (for Live).
type AccessToken struct {
	Subject string
	Expires time.Time
	Claims  any
}

// Callee is a service the exchange issues subject tokens for.
type Callee struct {
	// Name is its caller name: the audience of tokens for callers that
	// authenticate with a static token.
	Name string
	// ID is its SPIFFE ID ("" : none): the audience for callers that
	// authenticate with a JWT-SVID.
	ID string
	// Contract is its internal contract: the operations, and who may call each.
	Contract *openapi3.T
}

// Exchanger is the token service's side of the exchange.
type Exchanger struct {
	// Access verifies a user's access token (the token service's own).
	// Required.
	Access func(ctx context.Context, token string) (AccessToken, error)
	// Signer signs the subject tokens (the access tokens' key). Required.
	Signer *subject.Signer
	// Live says whether the session of a verified access token is still
	// live (not ended by logout, a password change or deactivation). The
	// service that issued the token decides, by the same rule its own API
	// applies to it. false refuses the exchange (invalid_grant); an error
	// fails it. Required: without it every exchange fails (fail closed),
	// since a signature and an expiry alone say nothing about a session
	// that ended.
	Live func(ctx context.Context, user AccessToken) (bool, error)
	// PerUser is the budget of exchanges of each (user, operation), whoever
	// asks (nil: none): a caller that keeps its tokens needs a few a minute,
	// and one that holds a user's access token gets no more than that.
	PerUser limit.Limiter
	// Budget, when set, is told each decision of PerUser (RateLimit fields).
	Budget func(ctx context.Context, b limit.Budget, d limit.Decision)
	// TokenType is the issued_token_type of the tokens (default
	// DefaultSubjectTokenType).
	TokenType string
	// TTL is the longest a subject token lives (at most subject.MaxTTL; 0: that).
	TTL time.Duration
	Now func() time.Time

	// targets are the served operations' policies, by audience and operationId.
	targets map[string]target
}

type target struct {
	callee string // the callee's name, whichever form the audience has
	spiffe bool   // the audience is a SPIFFE ID
	ops    map[string]Policy
}

// Serve adds the operations of callees, read from their contracts (which
// must carry x-allowed-callers and x-on-behalf-of on every operation).
func (x *Exchanger) Serve(callees ...Callee) error {
	if x.targets == nil {
		x.targets = map[string]target{}
	}
	for _, c := range callees {
		if c.Name == "" || c.Contract == nil {
			return errors.New("internalauth: a callee of the exchange needs a name and a contract")
		}
		policies, err := Policies(c.Contract)
		if err != nil {
			return fmt.Errorf("internalauth: contract of %s: %w", c.Name, err)
		}
		for _, aud := range []struct {
			name   string
			spiffe bool
		}{{c.Name, false}, {c.ID, true}} {
			if aud.name == "" {
				continue
			}
			t, ok := x.targets[aud.name]
			if !ok {
				t = target{callee: c.Name, spiffe: aud.spiffe, ops: map[string]Policy{}}
			}
			for op, p := range policies {
				if _, dup := t.ops[op]; dup {
					return fmt.Errorf("internalauth: %s serves operation %s twice", aud.name, op)
				}
				t.ops[op] = p
			}
			x.targets[aud.name] = t
		}
	}
	return nil
}

// Callers are the callers some served operation made for a user lets in:
// the ones that may ask the exchange at all (the token service's guard
// allows them its exchange operation: WithAlsoAllowed).
func (x *Exchanger) Callers() []string {
	seen := map[string]bool{}
	for _, t := range x.targets {
		for _, p := range t.ops {
			for c := range p.Callers {
				if p.Subject {
					seen[c] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
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
	case req.RequestedTokenType != "" && req.RequestedTokenType != x.tokenType():
		return refuse("requested_token_type", "invalid_request", "must be "+x.tokenType())
	case req.Scope == "":
		return refuse("scope", "invalid_request", "must be the operationId of the call")
	case req.Audience == "":
		return refuse("audience", "invalid_request", "must be the callee")
	}
	t, ok := x.targets[req.Audience]
	if !ok || t.spiffe != (callerID != "") {
		return refuse("audience", "invalid_target", "no callee the exchange serves has that name")
	}
	policy, ok := t.ops[req.Scope]
	if !ok || !policy.Subject {
		return refuse("scope", "invalid_target", "that callee has no operation made for a user with that operationId")
	}
	if !policy.Callers[caller] {
		return refuse("scope", "unauthorized_client", "the contract does not allow this caller that operation")
	}
	if x.Live == nil || x.Access == nil || x.Signer == nil {
		return ExchangeResponse{}, errors.New("exchange: no access check, session check or signer configured: every exchange fails")
	}
	user, err := x.Access(ctx, req.SubjectToken)
	if err != nil || user.Subject == "" {
		return refuse("subject_token", "invalid_grant", "not a valid access token")
	}
	sub := user.Subject
	now := x.now()
	ttl := min(x.ttl(), user.Expires.Sub(now))
	if ttl < minExchangeRemaining {
		return ExchangeResponse{}, &ExchangeError{Field: "subject_token", Code: "invalid_grant", Description: "expires too soon",
			Subject: sub}
	}
	// The budget before the session check: a flood of exchanges, refused or
	// not, costs the database nothing once the budget is spent.
	if err := x.spend(ctx, sub, t.callee, req.Scope); err != nil {
		return ExchangeResponse{}, err
	}
	live, err := x.Live(ctx, user)
	if err != nil {
		return ExchangeResponse{}, fmt.Errorf("exchange: session check of user %s: %w", sub, err)
	}
	if !live {
		return ExchangeResponse{}, &ExchangeError{Field: "subject_token", Code: "invalid_grant",
			Description: "the session of the access token has ended", Subject: sub}
	}
	azp := caller
	if callerID != "" {
		azp = callerID
	}
	tok, claims, err := x.Signer.Sign(subject.Request{Subject: sub, Audience: req.Audience,
		Operation: req.Scope, AuthorizedParty: azp}, ttl, now)
	if err != nil {
		return ExchangeResponse{}, fmt.Errorf("exchange: %w", err)
	}
	return ExchangeResponse{AccessToken: tok, IssuedTokenType: x.tokenType(), TokenType: exchangeNotABearer,
		ExpiresIn: int(ttl / time.Second), Subject: claims.Subject, TokenID: claims.ID}, nil
}

func (x *Exchanger) tokenType() string {
	if x.TokenType == "" {
		return DefaultSubjectTokenType
	}
	return x.TokenType
}

func (x *Exchanger) ttl() time.Duration {
	if x.TTL <= 0 || x.TTL > subject.MaxTTL {
		return subject.MaxTTL
	}
	return x.TTL
}

func (x *Exchanger) now() time.Time {
	if x.Now == nil {
		return time.Now()
	}
	return x.Now()
}

// spend takes one unit of the (user, operation) exchange budget, and tells
// Budget its decision.
func (x *Exchanger) spend(ctx context.Context, sub, callee, operation string) error {
	if x.PerUser == nil {
		return nil
	}
	// Per callee too: a callee's contract reusing another's operationId
	// spends its own budget, never that of the other's operation.
	d := x.PerUser.Take(ctx, "exchange:"+callee+":"+operation+":"+sub)
	if x.Budget != nil {
		x.Budget(ctx, x.PerUser.Budget(), d)
	}
	if !d.Allowed {
		return &ExchangeLimited{Subject: sub, Operation: operation, RetryAfter: d.RetryAfter}
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
	// Exchange performs one exchange (the HTTP call to the token service: ExchangeOver).
	Exchange func(ctx context.Context, req ExchangeRequest) (ExchangeResponse, error)
	// Margin is how long before its expiry a cached token is replaced.
	Margin time.Duration
	// MaxEntries bounds the cache (it starts over when full).
	MaxEntries int
	// TokenType is the issued_token_type expected (default DefaultSubjectTokenType).
	TokenType string
	Now       func() time.Time

	mu      sync.Mutex
	entries map[subjectKeyOf]cachedSubject
}

// subjectKeyOf is a cache entry's key. It holds a digest of the access
// token the entry was exchanged for: a token is given only for a call made
// with that same access token, so a caller that names the user from the
// request rather than from the verified token cannot be handed another
// user's cached token.
type subjectKeyOf struct {
	user, operation, audience string
	evidence                  [sha256.Size]byte
}

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
	want := c.TokenType
	if want == "" {
		want = DefaultSubjectTokenType
	}
	return func(ctx context.Context, req subject.Request) (string, error) {
		s, _ := ctx.Value(subjectKey{}).(Subject)
		if s.Evidence == "" {
			return "", ErrNoEvidence
		}
		key := subjectKeyOf{req.Subject, req.Operation, req.Audience, sha256.Sum256([]byte(s.Evidence))}
		now := time.Now()
		if c.Now != nil {
			now = c.Now()
		}
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
			SubjectTokenType: TokenTypeJWT, Audience: req.Audience, Scope: req.Operation, RequestedTokenType: want})
		if err != nil {
			return "", fmt.Errorf("exchange for a subject token: %w", err)
		}
		if resp.IssuedTokenType != want || resp.AccessToken == "" {
			return "", errors.New("exchange for a subject token: the answer is no subject token")
		}
		// The callee verifies the token; this only keeps a token for
		// another user (the access token was someone else's) out of the
		// cache entry of this one.
		var claims subject.Claims
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

// ExchangeOver is a SubjectCache's Exchange for a token service at url (its
// exchange operation), asked with client: an *http.Client whose Transport
// is a Transport with this workload's credential for the token service (and
// UserTokens set: the body carries the user's access token).
func ExchangeOver(client *http.Client, url string) func(context.Context, ExchangeRequest) (ExchangeResponse, error) {
	return func(ctx context.Context, req ExchangeRequest) (ExchangeResponse, error) {
		body, err := json.Marshal(req)
		if err != nil {
			return ExchangeResponse{}, fmt.Errorf("exchange request: %w", err)
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return ExchangeResponse{}, fmt.Errorf("exchange request: %w", err)
		}
		r.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(r)
		if err != nil {
			return ExchangeResponse{}, fmt.Errorf("exchange: %w", err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return ExchangeResponse{}, fmt.Errorf("exchange: reading the answer: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			// The answer's error code, never a token (a refusal quotes none).
			var refusal struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(data, &refusal)
			return ExchangeResponse{}, fmt.Errorf("exchange refused: %d %s", resp.StatusCode, refusal.Error)
		}
		var out ExchangeResponse
		if err := json.Unmarshal(data, &out); err != nil {
			return ExchangeResponse{}, fmt.Errorf("exchange: the answer is no token exchange response: %w", err)
		}
		return out, nil
	}
}
