// Package app holds the property service's rules: who may see and change a
// property, its rooms and its members. It knows nothing of HTTP or SQL; the
// Repository is implemented per engine in package adapters.
package app

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
)

// Access levels, from most to least powerful.
const (
	Owner  = "owner"
	Member = "member"
	Guest  = "guest"
)

// Limits that keep every list the contract declares bounded.
const (
	MaxPageSize = 100  // properties per page of the public list
	MaxClaims   = 1000 // properties per answer of the internal claims call
	MaxRooms    = 200  // rooms of one property (also in sql/queries/property.sql)
	MaxMembers  = 500  // members of one property
)

// MaxNameBytes bounds a property name in bytes, as the contract's 200 bounds
// it in characters: every property claim in an access token carries its
// property's name, and 200 four-byte characters are 800 bytes. 400 is twice
// the character bound, so a 200-character name in a script of one- or
// two-byte characters (Latin, Greek, Cyrillic, Hebrew, Arabic) still fits, and
// one claim stays under 900 bytes of JSON even if every byte is escaped.
const MaxNameBytes = 400

const errNameBytes = "must be at most 400 bytes of UTF-8"

// propertyName is a name as it is stored: trimmed, not empty, at most
// MaxNameBytes.
func propertyName(raw string) (string, error) {
	name := strings.TrimSpace(raw)
	switch {
	case name == "":
		return "", apperr.New(apperr.Invalid, "A property needs a name.")
	case len(name) > MaxNameBytes:
		return "", apperr.InvalidField("A property name "+errNameBytes+".", "name", errNameBytes)
	}
	return name, nil
}

// ClaimName is a stored name as a property claim carries it. Names stored
// before the byte bound may be longer (200 characters of up to 4 bytes): they
// are cut at a character boundary and end with an ellipsis, so a claim is
// never longer than the internal contract says, and never shows as whole a
// name that was cut.
func ClaimName(name string) string {
	if len(name) <= MaxNameBytes {
		return name
	}
	const ellipsis = "…"
	cut := MaxNameBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + ellipsis
}

// ValidAccessLevel reports whether s is one of the three levels.
func ValidAccessLevel(s string) bool { return s == Owner || s == Member || s == Guest }

// The record types mirror sqlc's rows field for field, so the adapters convert
// them with a plain type conversion on both engines.

// PropertyRecord is a stored property.
type PropertyRecord struct {
	ID        int64
	Name      string
	Address   string
	CreatedBy int64
	CreatedAt int64
	UpdatedAt int64
}

// Membership is a property seen through one user's access to it.
type Membership struct {
	ID          int64
	Name        string
	Address     string
	CreatedAt   int64
	AccessLevel string
}

// MemberRecord is one user's access to one property.
type MemberRecord struct {
	PropertyID  int64
	UserID      int64
	AccessLevel string
	CreatedAt   int64
}

// RoomRecord is a room of a property.
type RoomRecord struct {
	ID         int64
	PropertyID int64
	Name       string
	CreatedAt  int64
}

// Caller is who makes a request, from the verified JWT.
type Caller struct {
	UserID  int64
	IsAdmin bool
	// Email is the token's email claim: the account's canonical address ("":
	// none), which invitations are matched against.
	Email string
}

// Repository is the storage the rules need. Membership changes that must see a
// consistent owner count run inside the repository's own transactions.
type Repository interface {
	CreateWithOwner(ctx context.Context, name, address string, owner int64, now time.Time) (Membership, error)
	Get(ctx context.Context, id int64) (PropertyRecord, error)
	Member(ctx context.Context, propertyID, userID int64) (MemberRecord, error)
	// Memberships is one page of a user's properties (ids above after, by id);
	// All one page of every property, with admin's level where a member.
	Memberships(ctx context.Context, userID, after int64, limit int) ([]Membership, error)
	All(ctx context.Context, admin, after int64, limit int) ([]Membership, error)
	// Claims is at most limit of a user's properties, and how many there are in all.
	Claims(ctx context.Context, userID int64, limit int) ([]Membership, int, error)
	// Writes take the caller and change something only if the caller is an
	// owner at that moment, in the same statement or transaction (no lost
	// updates, no acting on a revoked ownership). Update, Delete and AddRoom
	// answer apperr.NotFound when there was nothing the caller may change;
	// Update changes only the fields given (nil: left as it is).
	Update(ctx context.Context, id, caller int64, name, address *string, now time.Time) (PropertyRecord, error)
	Delete(ctx context.Context, id, caller int64) error
	Rooms(ctx context.Context, propertyID int64) ([]RoomRecord, error)
	AddRoom(ctx context.Context, propertyID, caller int64, name string, now time.Time) (RoomRecord, error)
	Members(ctx context.Context, propertyID int64) ([]MemberRecord, error)
	// PutMember (a member's new level; apperr.NotFound for a user who is not
	// one: nobody is added this way) and RemoveMember apply the access rules
	// inside their transaction (ErrNoProperty, ErrNotOwner) and fail with
	// apperr.Conflict when the change would leave the property without an owner.
	PutMember(ctx context.Context, propertyID int64, caller Caller, userID int64, level string, now time.Time) (MemberRecord, error)
	RemoveMember(ctx context.Context, propertyID int64, caller Caller, userID int64, now time.Time) error
	InvitationRepository
	InvitationEmailRepository
	Ping(ctx context.Context) error
}

// Service is the property use cases.
type Service struct {
	Repo    Repository
	Budgets InvitationBudgets
	// Profiles gives the names shown in member and invitation lists (nil:
	// lists without names, a Config built in code without a user service).
	Profiles ProfileSource
	// Mailer sends invitations (nil: none is sent; each stays unsent).
	Mailer Mailer
	Now    func() time.Time
}

// Profile is what the user service says of a user: name and email.
type Profile struct {
	FirstName, LastName, Email string
}

// ProfileSource is the user service's profiles call: the profile of each of
// ids that the user service has itself seen as a member of propertyID, asked
// for the user of the request being served (who must be seen as one too).
// Its own time budget, retry and circuit breaker bound it (package
// upstream); an error means: no names this time.
type ProfileSource interface {
	Profiles(ctx context.Context, propertyID int64, ids []int64) (map[int64]Profile, error)
}

// Names are the profiles of a list's users, or none (Included false) when
// the user service could not be asked.
type Names struct {
	Included bool
	ByID     map[int64]Profile
}

// names asks for the profiles of ids, people of property id; a failure is
// not the list's failure.
func (s *Service) names(ctx context.Context, id int64, ids []int64) Names {
	if s.Profiles == nil || len(ids) == 0 {
		return Names{Included: s.Profiles != nil}
	}
	got, err := s.Profiles.Profiles(ctx, id, ids)
	if err != nil {
		return Names{}
	}
	return Names{Included: true, ByID: got}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// The two answers of the access rules to a caller who may not change a property.
var (
	// ErrNoProperty: it does not exist, or the caller may not see it (404, never
	// 403, so that its existence does not leak).
	ErrNoProperty = apperr.New(apperr.NotFound, "No such property.")
	// ErrNotOwner: the caller may see it but only owners change it.
	ErrNotOwner = apperr.New(apperr.Forbidden, "Only an owner may change this property.")
)

// AccessOf is the access rule: a member's own level; an admin who is not a
// member reads as a guest; anyone else has no access (ok is false).
func AccessOf(member *MemberRecord, c Caller) (level string, ok bool) {
	if member != nil {
		return member.AccessLevel, true
	}
	if c.IsAdmin {
		return Guest, true
	}
	return "", false
}

// CanChange is the change rule: only owners change a property, its rooms and members.
func CanChange(level string) bool { return level == Owner }

// visible loads a property and the caller's access, answering NotFound (never
// Forbidden) when the caller may not see it, so its existence does not leak.
func (s *Service) visible(ctx context.Context, c Caller, id int64) (Membership, error) {
	p, err := s.Repo.Get(ctx, id)
	if apperr.CodeOf(err) == apperr.NotFound {
		return Membership{}, ErrNoProperty
	}
	if err != nil {
		return Membership{}, err
	}
	var member *MemberRecord
	m, err := s.Repo.Member(ctx, id, c.UserID)
	switch {
	case err == nil:
		member = &m
	case apperr.CodeOf(err) != apperr.NotFound:
		return Membership{}, err
	}
	level, ok := AccessOf(member, c)
	if !ok {
		return Membership{}, ErrNoProperty
	}
	return Membership{ID: p.ID, Name: p.Name, Address: p.Address, CreatedAt: p.CreatedAt, AccessLevel: level}, nil
}

// changeable is visible plus the change rule.
func (s *Service) changeable(ctx context.Context, c Caller, id int64) (Membership, error) {
	p, err := s.visible(ctx, c, id)
	if err != nil {
		return Membership{}, err
	}
	if !CanChange(p.AccessLevel) {
		return Membership{}, ErrNotOwner
	}
	return p, nil
}

// whyNot explains a write that found nothing the caller may change: the
// property is gone or invisible (404), or the caller is not an owner (403).
func (s *Service) whyNot(ctx context.Context, c Caller, id int64) error {
	if _, err := s.changeable(ctx, c, id); err != nil {
		return err
	}
	return ErrNoProperty // it changed between the write and this look
}

// List returns one page of what the caller may see (ids above after, at
// most limit, by id): their memberships, or every property for an admin. next
// is the last id when the page is full (there may be more), 0 otherwise.
func (s *Service) List(ctx context.Context, c Caller, after int64, limit int) (page []Membership, next int64, err error) {
	if limit <= 0 || limit > MaxPageSize {
		limit = MaxPageSize
	}
	if c.IsAdmin {
		page, err = s.Repo.All(ctx, c.UserID, after, limit)
	} else {
		page, err = s.Repo.Memberships(ctx, c.UserID, after, limit)
	}
	if err != nil {
		return nil, 0, err
	}
	if len(page) == limit {
		next = page[len(page)-1].ID
	}
	return page, next, nil
}

// Create stores a property with the caller as its owner.
func (s *Service) Create(ctx context.Context, c Caller, name, address string) (Membership, error) {
	name, err := propertyName(name)
	if err != nil {
		return Membership{}, err
	}
	return s.Repo.CreateWithOwner(ctx, name, strings.TrimSpace(address), c.UserID, s.now())
}

// Get returns one property the caller may see.
func (s *Service) Get(ctx context.Context, c Caller, id int64) (Membership, error) {
	return s.visible(ctx, c, id)
}

// Update changes name and/or address (nil leaves a field as it is).
func (s *Service) Update(ctx context.Context, c Caller, id int64, name, address *string) (Membership, error) {
	if name != nil {
		checked, err := propertyName(*name)
		if err != nil {
			return Membership{}, err
		}
		name = &checked
	}
	if address != nil {
		trimmed := strings.TrimSpace(*address)
		address = &trimmed
	}
	rec, err := s.Repo.Update(ctx, id, c.UserID, name, address, s.now())
	if apperr.CodeOf(err) == apperr.NotFound {
		return Membership{}, s.whyNot(ctx, c, id)
	}
	if err != nil {
		return Membership{}, err
	}
	return Membership{ID: rec.ID, Name: rec.Name, Address: rec.Address, CreatedAt: rec.CreatedAt, AccessLevel: Owner}, nil
}

// Delete removes a property with its rooms and members.
func (s *Service) Delete(ctx context.Context, c Caller, id int64) error {
	err := s.Repo.Delete(ctx, id, c.UserID)
	if apperr.CodeOf(err) == apperr.NotFound {
		return s.whyNot(ctx, c, id)
	}
	return err
}

// Rooms lists a visible property's rooms.
func (s *Service) Rooms(ctx context.Context, c Caller, id int64) ([]RoomRecord, error) {
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, err
	}
	return s.Repo.Rooms(ctx, id)
}

// AddRoom adds a room; room names are unique within a property.
func (s *Service) AddRoom(ctx context.Context, c Caller, id int64, name string) (RoomRecord, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return RoomRecord{}, apperr.New(apperr.Invalid, "A room needs a name.")
	}
	room, err := s.Repo.AddRoom(ctx, id, c.UserID, name, s.now())
	if apperr.CodeOf(err) == apperr.NotFound {
		if _, err := s.changeable(ctx, c, id); err != nil {
			return RoomRecord{}, err
		}
		return RoomRecord{}, apperr.New(apperr.Conflict, "A property has at most %d rooms.", MaxRooms)
	}
	return room, err
}

// Members lists who may use a visible property, with their names when the
// user service answers.
func (s *Service) Members(ctx context.Context, c Caller, id int64) ([]MemberRecord, Names, error) {
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, Names{}, err
	}
	members, err := s.Repo.Members(ctx, id)
	if err != nil {
		return nil, Names{}, err
	}
	ids := make([]int64, len(members))
	for i, m := range members {
		ids[i] = m.UserID
	}
	return members, s.names(ctx, id, ids), nil
}

// PutMember changes an existing member's access level; it never adds one.
func (s *Service) PutMember(ctx context.Context, c Caller, id, userID int64, level string) (MemberRecord, error) {
	if !ValidAccessLevel(level) {
		return MemberRecord{}, apperr.New(apperr.Invalid, "access_level must be owner, member or guest.")
	}
	return s.Repo.PutMember(ctx, id, c, userID, level, s.now())
}

// RemoveMember revokes a user's access.
func (s *Service) RemoveMember(ctx context.Context, c Caller, id, userID int64) error {
	return s.Repo.RemoveMember(ctx, id, c, userID, s.now())
}

// ForUser is the internal claims query: at most limit (MaxClaims) of the
// properties userID has access to, by id, and how many there are in all.
func (s *Service) ForUser(ctx context.Context, userID int64, limit int) ([]Membership, int, error) {
	if limit <= 0 || limit > MaxClaims {
		limit = MaxClaims
	}
	return s.Repo.Claims(ctx, userID, limit)
}
