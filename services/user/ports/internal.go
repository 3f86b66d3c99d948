package ports

import (
	"context"
	"errors"
	"log/slog"

	"jeeves4service/gen/internaluserapi"
	"jeeves4service/services/common/apperr"
	"jeeves4service/services/common/internalauth"
	"jeeves4service/services/common/reqinfo"
	"jeeves4service/services/user/app"
)

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

// GetUserProfiles implements POST /api/internal/users/profiles.
func (h *Internal) GetUserProfiles(
	ctx context.Context,
	req internaluserapi.GetUserProfilesRequestObject,
) (internaluserapi.GetUserProfilesResponseObject, error) {
	profiles, err := h.App.Profiles(ctx, req.Body.UserIds)
	if err != nil {
		return nil, err
	}
	out := internaluserapi.UserProfiles{Profiles: make([]internaluserapi.UserProfile, 0, len(profiles))}
	for _, p := range profiles {
		out.Profiles = append(out.Profiles, internaluserapi.UserProfile{UserId: p.UserID, FirstName: p.FirstName,
			LastName: p.LastName, Email: p.Email})
	}
	return internaluserapi.GetUserProfiles200JSONResponse{Body: out,
		Headers: internaluserapi.GetUserProfiles200ResponseHeaders(reqinfo.InternalBudgetOf(ctx))}, nil
}

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
