package adapters

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jeeves4service/jeeves4service/gen/internalapi"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/upstream"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// PropertyService is the property service's name, as its SPIFFE ID's path
// and the user service's configuration name it.
const PropertyService = "property-service"

// getUserProperties is the claims call's operationId, for its subject token.
const getUserProperties = "getUserProperties"

// PropertyClient implements app.PropertySource with the client generated from
// openapi-internal.yaml, through the workload's internal-call client (which
// sets the credential and the request id) and an upstream (time budget, one
// retry, circuit breaker). What is left here is the question and the checks
// of its answer.
type PropertyClient struct {
	client *internalapi.ClientWithResponses
	*upstream.Upstream[app.PropertyClaims]
}

// NewPropertyClient builds the client; s bounds what one login spends on the
// property service, wrap (when set) wraps the connections' transport (tracing).
func NewPropertyClient(w *workload.Workload, s upstream.Settings,
	wrap func(http.RoundTripper) http.RoundTripper) (*PropertyClient, error) {
	s.Name = PropertyService
	up := upstream.New[app.PropertyClaims](s)
	httpClient, baseURL, err := w.Client(PropertyService, up.Budget(), wrap)
	if err != nil {
		return nil, err
	}
	client, err := internalapi.NewClientWithResponses(baseURL, internalapi.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("property service client for %s: %w", baseURL, err)
	}
	return &PropertyClient{client: client, Upstream: up}, nil
}

// UserProperties implements app.PropertySource.
func (p *PropertyClient) UserProperties(ctx context.Context, userID int64, limit int) (app.PropertyClaims, error) {
	return p.Call(ctx, func(ctx context.Context) (app.PropertyClaims, error) { return p.fetch(ctx, userID, limit) })
}

// fetch asks for at most limit claims (the most a token carries), and learns
// from total_count whether there were more.
func (p *PropertyClient) fetch(ctx context.Context, userID int64, limit int) (app.PropertyClaims, error) {
	params := &internalapi.GetUserPropertiesParams{}
	if limit > 0 {
		n := int32(limit)
		params.Limit = &n
	}
	// The call is made for userID: its subject token says so (the
	// workload's client mints it, or the call is not made).
	ctx = internalauth.ForSubject(ctx, internalauth.Subject{User: strconv.FormatInt(userID, 10), Operation: getUserProperties})
	resp, err := p.client.GetUserPropertiesWithResponse(ctx, userID, params)
	if err != nil {
		return app.PropertyClaims{}, fmt.Errorf("call property service: %w", err)
	}
	if resp.StatusCode() != http.StatusOK {
		// A 429 or 403 about userID is not the property service failing:
		// it must not strip the claims off everyone's tokens.
		return app.PropertyClaims{}, upstream.Refusal("property service", resp.HTTPResponse, resp.Body)
	}
	broken := func(what string) error { return &upstream.ContractError{Service: "property service", What: what} }
	body := resp.JSON200
	if body == nil {
		return app.PropertyClaims{}, broken("200 without a JSON body")
	}
	if body.UserId != userID {
		return app.PropertyClaims{}, broken("answer is about another user")
	}
	if limit > 0 && len(body.Properties) > limit {
		return app.PropertyClaims{}, broken("more properties than asked for")
	}
	claims := make([]jwtauth.PropertyClaim, 0, len(body.Properties))
	for _, pc := range body.Properties {
		if pc.PropertyId < 1 || !pc.AccessLevel.Valid() {
			return app.PropertyClaims{}, broken("property claim with an invalid id or access level")
		}
		claims = append(
			claims,
			jwtauth.PropertyClaim{PropertyID: pc.PropertyId, PropertyName: pc.PropertyName, AccessLevel: string(pc.AccessLevel)},
		)
	}
	return app.PropertyClaims{Claims: claims, Total: max(int(body.TotalCount), len(claims))}, nil
}
