// Package ports is the user service's HTTP side: thin handlers over app.Service.
package ports

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jeeves4service/jeeves4service/gen/userapi"
	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// Public implements userapi.StrictServerInterface.
type Public struct {
	App  *app.Service
	JWKS func() jwtauth.JWKS
}

var _ userapi.StrictServerInterface = (*Public)(nil)

// toUser is the response body of a user. Nothing in it can fail to marshal
// (the email is a plain string, as stored): a response that fails after a
// write would report an error for a write that happened.
func toUser(u app.UserRecord) userapi.User {
	return userapi.User{Id: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
		IsAdmin: u.IsAdmin, IsActive: u.IsActive, CreatedAt: time.Unix(u.CreatedAt, 0).UTC()}
}

// caller is the verified access token. The validator already refused
// requests without one, so a missing one here is a wiring bug: 401, not 500.
func caller(ctx context.Context) (*jwtauth.Claims, error) {
	c := jwtauth.FromContext(ctx)
	if c == nil {
		return nil, apperr.New(apperr.Unauthorized, "A valid bearer token is required.")
	}
	return c, nil
}

// issued is the body and headers of a response carrying a session's tokens.
func issued(ctx context.Context, s app.Session) userapi.SessionIssuedJSONResponse {
	b := reqinfo.BudgetOf(ctx)
	return userapi.SessionIssuedJSONResponse{
		Headers: userapi.SessionIssuedResponseHeaders{Authorization: "Bearer " + s.Token, CacheControl: "no-store",
			RateLimit: b.RateLimit, RateLimitPolicy: b.RateLimitPolicy},
		Body: userapi.Session{Token: s.Token, TokenType: userapi.Bearer, ExpiresAt: s.ExpiresAt.UTC(),
			PropertiesIncluded: s.PropertiesIncluded, RefreshToken: s.RefreshToken},
	}
}

// RegisterUser implements POST /api/users/register.
func (h *Public) RegisterUser(ctx context.Context, req userapi.RegisterUserRequestObject) (userapi.RegisterUserResponseObject, error) {
	u, err := h.App.Register(
		ctx,
		reqinfo.ClientIP(ctx),
		req.Body.Email,
		req.Body.Password,
		req.Body.FirstName,
		req.Body.LastName,
		false,
	)
	if err != nil {
		return nil, err
	}
	return userapi.RegisterUser201JSONResponse{Body: toUser(u), Headers: userapi.RegisterUser201ResponseHeaders(reqinfo.BudgetOf(ctx))}, nil
}

// AuthenticateUser implements POST /api/users/authenticate.
func (h *Public) AuthenticateUser(
	ctx context.Context,
	req userapi.AuthenticateUserRequestObject,
) (userapi.AuthenticateUserResponseObject, error) {
	s, err := h.App.Login(ctx, reqinfo.ClientIP(ctx), req.Body.Email, req.Body.Password)
	if err != nil {
		return nil, err
	}
	return userapi.AuthenticateUser200JSONResponse{SessionIssuedJSONResponse: issued(ctx, s)}, nil
}

// RefreshSession implements POST /api/users/refresh.
func (h *Public) RefreshSession(
	ctx context.Context,
	req userapi.RefreshSessionRequestObject,
) (userapi.RefreshSessionResponseObject, error) {
	// An access token sent along (optional, see the contract) binds the
	// refresh to its session; FromContext is nil unless it verified.
	s, err := h.App.Refresh(ctx, reqinfo.ClientIP(ctx), req.Body.RefreshToken, jwtauth.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	return userapi.RefreshSession200JSONResponse{SessionIssuedJSONResponse: issued(ctx, s)}, nil
}

// Logout implements POST /api/users/logout.
func (h *Public) Logout(ctx context.Context, _ userapi.LogoutRequestObject) (userapi.LogoutResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.App.Logout(ctx, c); err != nil {
		return nil, err
	}
	return userapi.Logout204Response{Headers: userapi.Logout204ResponseHeaders(reqinfo.BudgetOf(ctx))}, nil
}

// ChangePassword implements POST /api/users/change-password.
func (h *Public) ChangePassword(
	ctx context.Context,
	req userapi.ChangePasswordRequestObject,
) (userapi.ChangePasswordResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.App.ChangePassword(ctx, c, req.Body.CurrentPassword, req.Body.NewPassword); err != nil {
		return nil, err
	}
	return userapi.ChangePassword204Response{Headers: userapi.ChangePassword204ResponseHeaders(reqinfo.BudgetOf(ctx))}, nil
}

// GetCurrentUser implements GET /api/users/me.
func (h *Public) GetCurrentUser(ctx context.Context, _ userapi.GetCurrentUserRequestObject) (userapi.GetCurrentUserResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := h.App.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	return userapi.GetCurrentUser200JSONResponse{Body: toUser(u),
		Headers: userapi.GetCurrentUser200ResponseHeaders(reqinfo.BudgetOf(ctx))}, nil
}

// GetJWKS implements GET /.well-known/jwks.json.
func (h *Public) GetJWKS(ctx context.Context, _ userapi.GetJWKSRequestObject) (userapi.GetJWKSResponseObject, error) {
	set := h.JWKS()
	out := userapi.JWKS{Keys: make([]userapi.JWK, 0, len(set.Keys))}
	for _, k := range set.Keys {
		out.Keys = append(out.Keys, userapi.JWK{Kty: userapi.JWKKty(k.Kty), Crv: userapi.JWKCrv(k.Crv), X: k.X,
			Kid: k.Kid, Alg: userapi.JWKAlg(k.Alg), Use: userapi.JWKUse(k.Use)})
	}
	return userapi.GetJWKS200JSONResponse{Body: out, Headers: userapi.GetJWKS200ResponseHeaders(reqinfo.BudgetOf(ctx))}, nil
}

// RefuseSpentRegistrations answers 429 to a registration from a client IP
// whose registration budget is already spent, before the body is read or
// validated (a flood of refused registrations must not take the cores from
// other users' logins). Registrations that pass are budgeted as usual, after
// validation, in app.Register.
func RefuseSpentRegistrations(svc *app.Service, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/api/users/register" {
				if err := svc.RegistrationsSpent(r.Context(), reqinfo.ClientIP(r.Context())); err != nil {
					reqinfo.From(r.Context()).Operation = "registerUser"
					problem.WriteError(w, r, log, err)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
