package adapters

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jeeves4service/jeeves4service/gen/internaluserapi"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/upstream"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// UserService is the user service's name, as its SPIFFE ID's path and the
// property service's configuration name it.
const UserService = "user-service"

// getUserProfiles is the profiles call's operationId: the operation its
// subject tokens are for.
const getUserProfiles = "getUserProfiles"

// errNoVerifiedUser: a list asked for outside a request whose user was
// verified has no one to ask the names for.
var errNoVerifiedUser = errors.New("no verified user to ask the names for")

// ProfileClient implements app.ProfileSource with the client generated from
// openapi-internal.yaml (operations tagged users), through the workload's
// internal-call client (credential, request id, TLS) and an upstream (time
// budget, one retry, circuit breaker), built as the user service's property
// client is.
type ProfileClient struct {
	client *internaluserapi.ClientWithResponses
	*upstream.Upstream[map[int64]app.Profile]
}

// NewProfileClient builds the client; s bounds what one list spends on the
// user service. baseURL, when set, replaces the configured one (tests bind
// the user service after the property service).
func NewProfileClient(w *workload.Workload, s upstream.Settings, baseURL string,
	wrap func(http.RoundTripper) http.RoundTripper) (*ProfileClient, error) {
	s.Name = UserService
	up := upstream.New[map[int64]app.Profile](s)
	httpClient, configured, err := w.Client(UserService, up.Budget(), wrap)
	if err != nil {
		return nil, err
	}
	if baseURL == "" {
		baseURL = configured
	}
	client, err := internaluserapi.NewClientWithResponses(baseURL, internaluserapi.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("user service client for %s: %w", baseURL, err)
	}
	return &ProfileClient{client: client, Upstream: up}, nil
}

// Profiles implements app.ProfileSource. The call is made for the user of
// the request being served, whose access token the public listener has
// verified: the workload's client exchanges that token at the user service
// for a subject token (internalauth.SubjectCache), or makes no call. It
// names the property and that user: the user service answers only about the
// people it has itself seen share that property with them.
func (p *ProfileClient) Profiles(ctx context.Context, propertyID int64, ids []int64) (map[int64]app.Profile, error) {
	claims, token := jwtauth.FromContext(ctx), jwtauth.VerifiedToken(ctx)
	if claims == nil || token == "" {
		return nil, errNoVerifiedUser
	}
	ctx = internalauth.ForSubject(ctx, internalauth.Subject{User: strconv.FormatInt(claims.UserID, 10),
		Operation: getUserProfiles, Evidence: token})
	return p.Call(ctx, func(ctx context.Context) (map[int64]app.Profile, error) {
		return p.fetch(ctx, claims.UserID, propertyID, ids)
	})
}

// Exchange is the user service's token exchange (exchangeSubjectToken), the
// Exchange of the property service's internalauth.SubjectCache. A refusal
// (400: that user's access token will not do) is about this request only
// (upstream.ErrRefusedForThisRequest), and so are a 429 and a 403 the user
// service says are about that user (upstream.Refusal).
func (p *ProfileClient) Exchange(ctx context.Context, req internalauth.ExchangeRequest) (internalauth.ExchangeResponse, error) {
	body := internaluserapi.TokenExchangeRequest{GrantType: internaluserapi.TokenExchangeRequestGrantType(req.GrantType),
		SubjectToken: req.SubjectToken, SubjectTokenType: internaluserapi.TokenExchangeRequestSubjectTokenType(req.SubjectTokenType),
		Audience: req.Audience, Scope: req.Scope}
	if req.RequestedTokenType != "" {
		t := internaluserapi.TokenExchangeRequestRequestedTokenType(req.RequestedTokenType)
		body.RequestedTokenType = &t
	}
	resp, err := p.client.ExchangeSubjectTokenWithResponse(ctx, &internaluserapi.ExchangeSubjectTokenParams{}, body)
	if err != nil {
		return internalauth.ExchangeResponse{}, fmt.Errorf("token exchange at the user service: %w", err)
	}
	const exchange = "user service's token exchange"
	switch {
	case resp.StatusCode() == http.StatusBadRequest:
		return internalauth.ExchangeResponse{}, fmt.Errorf("%w: %w", upstream.ErrRefusedForThisRequest,
			&upstream.StatusError{Service: exchange, Status: resp.StatusCode()})
	case resp.StatusCode() != http.StatusOK:
		return internalauth.ExchangeResponse{}, upstream.Refusal(exchange, resp.HTTPResponse, resp.Body)
	case resp.JSON200 == nil:
		return internalauth.ExchangeResponse{}, &upstream.ContractError{Service: "user service",
			What: "a token exchange's 200 without a JSON body"}
	}
	return internalauth.ExchangeResponse{AccessToken: resp.JSON200.AccessToken, IssuedTokenType: string(resp.JSON200.IssuedTokenType),
		TokenType: string(resp.JSON200.TokenType), ExpiresIn: int(resp.JSON200.ExpiresIn)}, nil
}

// fetch asks, for user, for ids' profiles in property and checks the answer
// is about them only.
func (p *ProfileClient) fetch(ctx context.Context, user, property int64, ids []int64) (map[int64]app.Profile, error) {
	resp, err := p.client.GetUserProfilesWithResponse(ctx, user, property, &internaluserapi.GetUserProfilesParams{},
		internaluserapi.GetUserProfilesJSONRequestBody{UserIds: ids})
	if err != nil {
		return nil, fmt.Errorf("call user service: %w", err)
	}
	if resp.StatusCode() != http.StatusOK {
		// A 429 or 403 about the user the list is for is not the user
		// service failing: it must not cut the names off everyone's lists.
		return nil, upstream.Refusal("user service", resp.HTTPResponse, resp.Body)
	}
	if resp.JSON200 == nil {
		return nil, &upstream.ContractError{Service: "user service", What: "200 without a JSON body"}
	}
	asked := make(map[int64]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	out := make(map[int64]app.Profile, len(resp.JSON200.Profiles))
	for _, pr := range resp.JSON200.Profiles {
		if !asked[pr.UserId] {
			return nil, &upstream.ContractError{Service: "user service", What: "a profile of a user not asked for"}
		}
		out[pr.UserId] = app.Profile{FirstName: pr.FirstName, LastName: pr.LastName, Email: pr.Email}
	}
	return out, nil
}
