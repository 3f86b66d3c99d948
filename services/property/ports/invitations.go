package ports

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/jeeves4service/jeeves4service/gen/propertyapi"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

func toInvitation(i app.InvitationRecord) propertyapi.Invitation {
	inv := propertyapi.Invitation{Id: i.ID, PropertyId: i.PropertyID, PropertyName: i.PropertyName, Email: i.Email,
		AccessLevel: propertyapi.AccessLevel(i.AccessLevel), InvitedBy: i.InvitedBy,
		CreatedAt: time.Unix(i.CreatedAt, 0).UTC(), ExpiresAt: time.Unix(i.ExpiresAt, 0).UTC(), Sent: i.Sent}
	if i.InvitedByEmail != "" { // "": sent before the inviter's email was recorded
		inv.InvitedByEmail = &i.InvitedByEmail
	}
	return inv
}

func toInvitationList(list []app.InvitationRecord, names app.Names) propertyapi.InvitationList {
	out := propertyapi.InvitationList{Invitations: make([]propertyapi.Invitation, 0, len(list)), TotalCount: int32(len(list)),
		NamesIncluded: names.Included}
	for _, i := range list {
		inv := toInvitation(i)
		if p, ok := names.ByID[i.InvitedBy]; ok {
			inv.InvitedByName = displayName(p)
		}
		out.Invitations = append(out.Invitations, inv)
	}
	return out
}

// displayName is how a person is shown: first and last name (nil: no name).
func displayName(p app.Profile) *string {
	name := strings.TrimSpace(p.FirstName + " " + p.LastName)
	if name == "" {
		return nil
	}
	return &name
}

// CreateInvitation implements POST /api/property/{id}/invitations.
func (h *Public) CreateInvitation(
	ctx context.Context,
	req propertyapi.CreateInvitationRequestObject,
) (propertyapi.CreateInvitationResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	days := 0
	if req.Body.ExpiresInDays != nil {
		days = int(*req.Body.ExpiresInDays)
	}
	inv, err := h.App.Invite(ctx, c, req.Id, req.Body.Email, string(req.Body.AccessLevel), days)
	if err != nil {
		return nil, err
	}
	return propertyapi.CreateInvitation201JSONResponse{Body: toInvitation(inv),
		Headers: propertyapi.CreateInvitation201ResponseHeaders(budget(ctx))}, nil
}

// ListInvitations implements GET /api/property/{id}/invitations.
func (h *Public) ListInvitations(
	ctx context.Context,
	req propertyapi.ListInvitationsRequestObject,
) (propertyapi.ListInvitationsResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	list, names, err := h.App.PropertyInvitations(ctx, c, req.Id)
	if err != nil {
		return nil, err
	}
	return propertyapi.ListInvitations200JSONResponse{Body: toInvitationList(list, names),
		Headers: propertyapi.ListInvitations200ResponseHeaders(budget(ctx))}, nil
}

// RevokeInvitation implements DELETE /api/property/{id}/invitations/{invitation_id}.
func (h *Public) RevokeInvitation(
	ctx context.Context,
	req propertyapi.RevokeInvitationRequestObject,
) (propertyapi.RevokeInvitationResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.App.RevokeInvitation(ctx, c, req.Id, req.InvitationId); err != nil {
		return nil, err
	}
	return propertyapi.RevokeInvitation204Response{Headers: propertyapi.RevokeInvitation204ResponseHeaders(budget(ctx))}, nil
}

// SendInvitation implements POST /api/property/{id}/invitations/{invitation_id}/send.
func (h *Public) SendInvitation(
	ctx context.Context,
	req propertyapi.SendInvitationRequestObject,
) (propertyapi.SendInvitationResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	inv, err := h.App.SendAgain(ctx, c, req.Id, req.InvitationId)
	if err != nil {
		return nil, err
	}
	return propertyapi.SendInvitation200JSONResponse{Body: toInvitation(inv),
		Headers: propertyapi.SendInvitation200ResponseHeaders(budget(ctx))}, nil
}

// ListMyInvitations implements GET /api/invitations.
func (h *Public) ListMyInvitations(
	ctx context.Context,
	req propertyapi.ListMyInvitationsRequestObject,
) (propertyapi.ListMyInvitationsResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var after int64
	limit := app.MaxInvitations
	if req.Params.After != nil {
		after = *req.Params.After
	}
	if req.Params.Limit != nil {
		limit = int(*req.Params.Limit)
	}
	page, err := h.App.MyInvitations(ctx, c, after, limit)
	if err != nil {
		return nil, err
	}
	// No names: the invitee shares no property with the inviters yet (the
	// user service would not name them); invited_by_email says who they are.
	out := toInvitationList(page.Invitations, app.Names{})
	out.TotalCount = int32(min(page.Total, math.MaxInt32))
	if page.Next != 0 {
		out.NextAfter = &page.Next
	}
	return propertyapi.ListMyInvitations200JSONResponse{Body: out,
		Headers: propertyapi.ListMyInvitations200ResponseHeaders(budget(ctx))}, nil
}

// AcceptInvitation implements POST /api/invitations/{invitation_id}/accept.
func (h *Public) AcceptInvitation(
	ctx context.Context,
	req propertyapi.AcceptInvitationRequestObject,
) (propertyapi.AcceptInvitationResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	secret := ""
	if req.Body != nil { // the validator requires it; a handler called without one refuses
		secret = req.Body.Secret
	}
	m, err := h.App.Accept(ctx, c, req.InvitationId, secret)
	if err != nil {
		return nil, err
	}
	return propertyapi.AcceptInvitation200JSONResponse{Body: toMember(m),
		Headers: propertyapi.AcceptInvitation200ResponseHeaders(budget(ctx))}, nil
}

// DeclineInvitation implements DELETE /api/invitations/{invitation_id}.
func (h *Public) DeclineInvitation(
	ctx context.Context,
	req propertyapi.DeclineInvitationRequestObject,
) (propertyapi.DeclineInvitationResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.App.Decline(ctx, c, req.InvitationId); err != nil {
		return nil, err
	}
	return propertyapi.DeclineInvitation204Response{Headers: propertyapi.DeclineInvitation204ResponseHeaders(budget(ctx))}, nil
}
