// Package ports is the property service's HTTP side: thin handlers that turn
// generated request objects into use-case calls and results into generated
// response objects. Failures are returned as errors and written as problems by
// the strict server's ResponseErrorHandlerFunc (package problem).
package ports

import (
	"context"
	"time"

	"jeeves4service/gen/propertyapi"
	"jeeves4service/services/common/apperr"
	"jeeves4service/services/common/jwtauth"
	"jeeves4service/services/property/app"
)

// Public implements propertyapi.StrictServerInterface.
type Public struct {
	App *app.Service
}

var _ propertyapi.StrictServerInterface = (*Public)(nil)

// caller reads the verified JWT. The validator already refused requests
// without one, so a missing caller here is a wiring bug: answer 401, not 500.
func caller(ctx context.Context) (app.Caller, error) {
	c := jwtauth.FromContext(ctx)
	if c == nil {
		return app.Caller{}, apperr.New(apperr.Unauthorized, "A valid bearer token is required.")
	}
	return app.Caller{UserID: c.UserID, IsAdmin: c.IsAdmin}, nil
}

func toProperty(m app.Membership) propertyapi.Property {
	return propertyapi.Property{Id: m.ID, Name: m.Name, Address: m.Address,
		AccessLevel: propertyapi.AccessLevel(m.AccessLevel), CreatedAt: time.Unix(m.CreatedAt, 0).UTC()}
}

func toMember(m app.MemberRecord) propertyapi.Member {
	return propertyapi.Member{PropertyId: m.PropertyID, UserId: m.UserID, AccessLevel: propertyapi.AccessLevel(m.AccessLevel)}
}

// ListProperties implements GET /api/properties/.
func (h *Public) ListProperties(
	ctx context.Context,
	_ propertyapi.ListPropertiesRequestObject,
) (propertyapi.ListPropertiesResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.App.List(ctx, c)
	if err != nil {
		return nil, err
	}
	out := propertyapi.ListProperties200JSONResponse{Properties: make([]propertyapi.Property, 0, len(list)), TotalCount: len(list)}
	for _, m := range list {
		out.Properties = append(out.Properties, toProperty(m))
	}
	return out, nil
}

// CreateProperty implements POST /api/properties/.
func (h *Public) CreateProperty(
	ctx context.Context,
	req propertyapi.CreatePropertyRequestObject,
) (propertyapi.CreatePropertyResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	address := ""
	if req.Body.Address != nil {
		address = *req.Body.Address
	}
	m, err := h.App.Create(ctx, c, req.Body.Name, address)
	if err != nil {
		return nil, err
	}
	return propertyapi.CreateProperty201JSONResponse(toProperty(m)), nil
}

// GetProperty implements GET /api/property/{id}.
func (h *Public) GetProperty(ctx context.Context, req propertyapi.GetPropertyRequestObject) (propertyapi.GetPropertyResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := h.App.Get(ctx, c, req.Id)
	if err != nil {
		return nil, err
	}
	return propertyapi.GetProperty200JSONResponse(toProperty(m)), nil
}

// UpdateProperty implements PATCH /api/property/{id}.
func (h *Public) UpdateProperty(
	ctx context.Context,
	req propertyapi.UpdatePropertyRequestObject,
) (propertyapi.UpdatePropertyResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := h.App.Update(ctx, c, req.Id, req.Body.Name, req.Body.Address)
	if err != nil {
		return nil, err
	}
	return propertyapi.UpdateProperty200JSONResponse(toProperty(m)), nil
}

// DeleteProperty implements DELETE /api/property/{id}.
func (h *Public) DeleteProperty(
	ctx context.Context,
	req propertyapi.DeletePropertyRequestObject,
) (propertyapi.DeletePropertyResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.App.Delete(ctx, c, req.Id); err != nil {
		return nil, err
	}
	return propertyapi.DeleteProperty204Response{}, nil
}

// ListRooms implements GET /api/property/{id}/rooms.
func (h *Public) ListRooms(ctx context.Context, req propertyapi.ListRoomsRequestObject) (propertyapi.ListRoomsResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rooms, err := h.App.Rooms(ctx, c, req.Id)
	if err != nil {
		return nil, err
	}
	out := propertyapi.ListRooms200JSONResponse{Rooms: make([]propertyapi.Room, 0, len(rooms)), TotalCount: len(rooms)}
	for _, r := range rooms {
		out.Rooms = append(out.Rooms, propertyapi.Room{Id: r.ID, PropertyId: r.PropertyID, Name: r.Name})
	}
	return out, nil
}

// AddRoom implements POST /api/property/{id}/rooms.
func (h *Public) AddRoom(ctx context.Context, req propertyapi.AddRoomRequestObject) (propertyapi.AddRoomResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	r, err := h.App.AddRoom(ctx, c, req.Id, req.Body.Name)
	if err != nil {
		return nil, err
	}
	return propertyapi.AddRoom201JSONResponse{Id: r.ID, PropertyId: r.PropertyID, Name: r.Name}, nil
}

// ListMembers implements GET /api/property/{id}/members.
func (h *Public) ListMembers(ctx context.Context, req propertyapi.ListMembersRequestObject) (propertyapi.ListMembersResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	members, err := h.App.Members(ctx, c, req.Id)
	if err != nil {
		return nil, err
	}
	out := propertyapi.ListMembers200JSONResponse{Members: make([]propertyapi.Member, 0, len(members)), TotalCount: len(members)}
	for _, m := range members {
		out.Members = append(out.Members, toMember(m))
	}
	return out, nil
}

// PutMember implements PUT /api/property/{id}/members/{user_id}.
func (h *Public) PutMember(ctx context.Context, req propertyapi.PutMemberRequestObject) (propertyapi.PutMemberResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := h.App.PutMember(ctx, c, req.Id, req.UserId, string(req.Body.AccessLevel))
	if err != nil {
		return nil, err
	}
	return propertyapi.PutMember200JSONResponse(toMember(m)), nil
}

// RemoveMember implements DELETE /api/property/{id}/members/{user_id}.
func (h *Public) RemoveMember(
	ctx context.Context,
	req propertyapi.RemoveMemberRequestObject,
) (propertyapi.RemoveMemberResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.App.RemoveMember(ctx, c, req.Id, req.UserId); err != nil {
		return nil, err
	}
	return propertyapi.RemoveMember204Response{}, nil
}
