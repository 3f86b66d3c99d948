package ports

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jeeves4service/jeeves4service/gen/internaluserapi"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// ExchangeOperation is the operationId of the token exchange.
const ExchangeOperation = "exchangeSubjectToken"

// Internal implements internaluserapi.StrictServerInterface: the user
// service's internal operations. The guard (package internalauth) and the
// validator have checked the credential, the caller and the body before a
// call reaches it.
type Internal struct {
	App *app.Service
	// Exchanger issues the subject tokens of exchangeSubjectToken.
	Exchanger *internalauth.Exchanger
	// Log gets a WARN line for every refused exchange.
	Log *slog.Logger
}

var _ internaluserapi.StrictServerInterface = (*Internal)(nil)

// GetUserProfiles implements POST
// /api/internal/users/{user_id}/properties/{property_id}/profiles. The
// guard has checked that the subject token is user_id's; the rule
// (app.Service.Profiles) answers only about the members of the property this
// service has seen itself. Every refusal and every id left out is a WARN line
// naming the subject: a caller asking about people its user does not share
// the property with is what a leaked credential looks like.
func (h *Internal) GetUserProfiles(
	ctx context.Context,
	req internaluserapi.GetUserProfilesRequestObject,
) (internaluserapi.GetUserProfilesResponseObject, error) {
	info := reqinfo.From(ctx)
	answer, err := h.App.Profiles(ctx, req.UserId, req.PropertyId, req.Body.UserIds)
	if errors.Is(err, app.ErrNotSeenMember) {
		h.Log.WarnContext(ctx, "profiles refused", "reason", "subject_not_seen_member", "subject", req.UserId,
			"property_id", req.PropertyId, "asked", len(req.Body.UserIds), "caller", info.Caller, "jti", info.SubjectTokenID,
			"client_ip", info.ClientIP, "request_id", info.RequestID)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if len(answer.LeftOut) > 0 {
		h.Log.WarnContext(ctx, "profiles left out", "reason", "not_seen_member", "subject", req.UserId,
			"property_id", req.PropertyId, "left_out", len(answer.LeftOut), "ids", answer.LeftOut[:min(len(answer.LeftOut), maxLoggedIDs)],
			"asked", len(req.Body.UserIds), "caller", info.Caller, "jti", info.SubjectTokenID, "request_id", info.RequestID)
	}
	out := internaluserapi.UserProfiles{Profiles: make([]internaluserapi.UserProfile, 0, len(answer.Profiles))}
	for _, p := range answer.Profiles {
		out.Profiles = append(out.Profiles, internaluserapi.UserProfile{UserId: p.UserID, FirstName: p.FirstName,
			LastName: p.LastName, Email: p.Email})
	}
	return internaluserapi.GetUserProfiles200JSONResponse{Body: out,
		Headers: internaluserapi.GetUserProfiles200ResponseHeaders(reqinfo.InternalBudgetOf(ctx))}, nil
}

// maxLoggedIDs bounds the ids a WARN line lists (a harvest asks for 500).
const maxLoggedIDs = 20

// ExchangeSubjectToken implements POST /api/internal/users/subject-tokens:
// the guard has authenticated the caller (the subject token is issued to
// it, as azp, in the form it authenticated with); the exchanger decides.
func (h *Internal) ExchangeSubjectToken(
	ctx context.Context,
	req internaluserapi.ExchangeSubjectTokenRequestObject,
) (internaluserapi.ExchangeSubjectTokenResponseObject, error) {
	info := reqinfo.From(ctx)
	callerID := ""
	if info.Credential == internalauth.CredentialJWTSVID {
		callerID = info.CallerID
	}
	b := req.Body
	asked := internalauth.ExchangeRequest{GrantType: string(b.GrantType), SubjectToken: b.SubjectToken,
		SubjectTokenType: string(b.SubjectTokenType), Audience: b.Audience, Scope: b.Scope}
	if b.RequestedTokenType != nil {
		asked.RequestedTokenType = string(*b.RequestedTokenType)
	}
	issued, err := h.Exchanger.Exchange(ctx, asked, info.Caller, callerID)
	var refused *internalauth.ExchangeError
	var limited *internalauth.ExchangeLimited
	if errors.As(err, &limited) {
		// The user's exchange budget for the operation is spent: a caller
		// that keeps its tokens never gets here, so say who asked, for whom.
		h.Log.WarnContext(ctx, "subject token exchange refused", "reason", "exchange_budget", "user_id", limited.Subject,
			"scope", limited.Operation, "caller", info.Caller, "caller_id", info.CallerID, "client_ip", info.ClientIP,
			"request_id", info.RequestID)
		return nil, &apperr.Error{Code: apperr.RateLimited, Message: "Too many token exchanges for this user; try again later.",
			RetryAfter: limited.RetryAfter}
	}
	if errors.As(err, &refused) {
		// user_id only once the access token was verified (Subject is ""
		// otherwise): an unverified token's claims are the caller's word.
		h.Log.WarnContext(ctx, "subject token exchange refused", "reason", refused.Code, "field", refused.Field,
			"description", refused.Description, "user_id", refused.Subject, "caller", info.Caller, "caller_id", info.CallerID,
			"scope", b.Scope, "client_ip", info.ClientIP, "request_id", info.RequestID)
		code := apperr.Invalid
		if refused.Code == "unauthorized_client" {
			code = apperr.Forbidden
		}
		return nil, &apperr.Error{Code: code, Message: "The token exchange is refused.",
			Fields: []apperr.Field{{Name: refused.Field, Rule: refused.Code + ": " + refused.Description}}}
	}
	if err != nil {
		return nil, err
	}
	// The audit line says for whom the caller obtained a token, and which.
	info.Subject, info.SubjectTokenID = issued.Subject, issued.TokenID
	fields := reqinfo.InternalBudgetOf(ctx)
	return internaluserapi.ExchangeSubjectToken200JSONResponse{
		Body: internaluserapi.TokenExchangeResponse{AccessToken: issued.AccessToken,
			IssuedTokenType: internaluserapi.TokenExchangeResponseIssuedTokenType(issued.IssuedTokenType),
			TokenType:       internaluserapi.TokenExchangeResponseTokenType(issued.TokenType), ExpiresIn: int32(issued.ExpiresIn)},
		Headers: internaluserapi.ExchangeSubjectToken200ResponseHeaders{CacheControl: "no-store",
			RateLimit: fields.RateLimit, RateLimitPolicy: fields.RateLimitPolicy}}, nil
}
