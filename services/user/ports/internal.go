package ports

import (
	"context"

	"jeeves4service/gen/internaluserapi"
	"jeeves4service/services/common/reqinfo"
	"jeeves4service/services/user/app"
)

// Internal implements internaluserapi.StrictServerInterface: the user
// service's internal operations. The guard (package internalauth) and the
// validator have checked the credential, the caller and the body before a
// call reaches it.
type Internal struct {
	App *app.Service
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
