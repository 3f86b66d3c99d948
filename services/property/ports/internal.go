package ports

import (
	"context"

	"jeeves4service/gen/internalapi"
	"jeeves4service/services/property/app"
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
	list, err := h.App.ForUser(ctx, req.UserId)
	if err != nil {
		return nil, err
	}
	out := internalapi.GetUserProperties200JSONResponse{UserId: req.UserId, TotalCount: len(list),
		Properties: make([]internalapi.PropertyClaim, 0, len(list))}
	for _, m := range list {
		out.Properties = append(out.Properties, internalapi.PropertyClaim{
			PropertyId: m.ID, PropertyName: m.Name, AccessLevel: internalapi.AccessLevel(m.AccessLevel)})
	}
	return out, nil
}
