// Package ports is the property service's HTTP side: thin handlers that turn
// generated request objects into use-case calls and results into generated
// response objects. Failures are returned as errors and written as problems by
// the strict server's ResponseErrorHandlerFunc (package problem).
package ports

import (
	"context"
	"time"

	"github.com/jeeves4service/jeeves4service/gen/propertyapi"
	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/property/app"
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
	return app.Caller{UserID: c.UserID, IsAdmin: c.IsAdmin, Email: c.Email}, nil
}

// budget is the response's RateLimit fields, which the contract declares on
// every answer: the generated server writes them from the typed response.
func budget(ctx context.Context) reqinfo.Budget { return reqinfo.BudgetOf(ctx) }

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
	req propertyapi.ListPropertiesRequestObject,
) (propertyapi.ListPropertiesResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var after int64
	limit := app.MaxPageSize
	if req.Params.After != nil {
		after = *req.Params.After
	}
	if req.Params.Limit != nil {
		limit = int(*req.Params.Limit)
	}
	list, next, err := h.App.List(ctx, c, after, limit)
	if err != nil {
		return nil, err
	}
	out := propertyapi.PropertyList{Properties: make([]propertyapi.Property, 0, len(list)), TotalCount: int32(len(list))}
	for _, m := range list {
		out.Properties = append(out.Properties, toProperty(m))
	}
	if next != 0 {
		out.NextAfter = &next
	}
	return propertyapi.ListProperties200JSONResponse{Body: out, Headers: propertyapi.ListProperties200ResponseHeaders(budget(ctx))}, nil
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
	return propertyapi.CreateProperty201JSONResponse{Body: toProperty(m),
		Headers: propertyapi.CreateProperty201ResponseHeaders(budget(ctx))}, nil
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
	return propertyapi.GetProperty200JSONResponse{Body: toProperty(m), Headers: propertyapi.GetProperty200ResponseHeaders(budget(ctx))}, nil
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
	return propertyapi.UpdateProperty200JSONResponse{Body: toProperty(m),
		Headers: propertyapi.UpdateProperty200ResponseHeaders(budget(ctx))}, nil
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
	return propertyapi.DeleteProperty204Response{Headers: propertyapi.DeleteProperty204ResponseHeaders(budget(ctx))}, nil
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
	out := propertyapi.RoomList{Rooms: make([]propertyapi.Room, 0, len(rooms)), TotalCount: int32(len(rooms))}
	for _, r := range rooms {
		out.Rooms = append(out.Rooms, propertyapi.Room{Id: r.ID, PropertyId: r.PropertyID, Name: r.Name})
	}
	return propertyapi.ListRooms200JSONResponse{Body: out, Headers: propertyapi.ListRooms200ResponseHeaders(budget(ctx))}, nil
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
	return propertyapi.AddRoom201JSONResponse{Body: propertyapi.Room{Id: r.ID, PropertyId: r.PropertyID, Name: r.Name},
		Headers: propertyapi.AddRoom201ResponseHeaders(budget(ctx))}, nil
}

// ListMembers implements GET /api/property/{id}/members.
func (h *Public) ListMembers(ctx context.Context, req propertyapi.ListMembersRequestObject) (propertyapi.ListMembersResponseObject, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	members, names, err := h.App.Members(ctx, c, req.Id)
	if err != nil {
		return nil, err
	}
	out := propertyapi.MemberList{Members: make([]propertyapi.Member, 0, len(members)), TotalCount: int32(len(members)),
		NamesIncluded: names.Included}
	for _, m := range members {
		member := toMember(m)
		if p, ok := names.ByID[m.UserID]; ok {
			member.DisplayName, member.Email = displayName(p), &p.Email
		}
		out.Members = append(out.Members, member)
	}
	return propertyapi.ListMembers200JSONResponse{Body: out, Headers: propertyapi.ListMembers200ResponseHeaders(budget(ctx))}, nil
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
	return propertyapi.PutMember200JSONResponse{Body: toMember(m), Headers: propertyapi.PutMember200ResponseHeaders(budget(ctx))}, nil
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
	return propertyapi.RemoveMember204Response{Headers: propertyapi.RemoveMember204ResponseHeaders(budget(ctx))}, nil
}
