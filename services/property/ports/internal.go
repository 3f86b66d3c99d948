package ports

import (
	"context"
	"math"

	"github.com/jeeves4service/jeeves4service/gen/internalapi"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// Internal implements internalapi.StrictServerInterface. By the time a call
// reaches it, the validator has checked X-Internal-Token (via TokenGuard) and
// the user_id; the handler only answers.
type Internal struct {
	App *app.Service
}

var _ internalapi.StrictServerInterface = (*Internal)(nil)

// GetUserProperties implements GET /api/internal/properties/users/{user_id}.
func (h *Internal) GetUserProperties(
	ctx context.Context,
	req internalapi.GetUserPropertiesRequestObject,
) (internalapi.GetUserPropertiesResponseObject, error) {
	limit := app.MaxClaims
	if req.Params.Limit != nil {
		limit = int(*req.Params.Limit)
	}
	list, total, err := h.App.ForUser(ctx, req.UserId, limit)
	if err != nil {
		return nil, err
	}
	out := internalapi.UserProperties{UserId: req.UserId, TotalCount: int32(min(total, math.MaxInt32)),
		Properties: make([]internalapi.PropertyClaim, 0, len(list))}
	for _, m := range list {
		out.Properties = append(out.Properties, internalapi.PropertyClaim{
			PropertyId: m.ID, PropertyName: app.ClaimName(m.Name), AccessLevel: internalapi.AccessLevel(m.AccessLevel)})
	}
	return internalapi.GetUserProperties200JSONResponse{Body: out,
		Headers: internalapi.GetUserProperties200ResponseHeaders(reqinfo.InternalBudgetOf(ctx))}, nil
}
