package adapters

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// Open opens (and migrates) the property database at url and returns the
// repository for its engine, and the connection pool to close when done.
func Open(ctx context.Context, url string, traced *database.Traced) (app.Repository, *sql.DB, error) {
	return database.OpenFor(ctx, url, "property", traced,
		func(ctx context.Context, c *sql.DB) (app.Repository, error) { return NewSQLite(ctx, c) },
		func(ctx context.Context, c *sql.DB) (app.Repository, error) { return NewPostgres(ctx, c) })
}

// msgs is what this repository says when a row is missing or duplicated.
var msgs = database.Messages{NotFound: "No such property or member.", Conflict: "That already exists."}

func convert[From, To any](rows []From, f func(From) To) []To {
	out := make([]To, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out
}

// claimsPage cuts rows, read with a LIMIT of limit+1, to limit and returns
// how many there are in all: len(rows) unless the extra row came, when count
// asks the database (a second query only for a user with more than a page).
func claimsPage(rows []app.Membership, limit int, count func() (int64, error)) ([]app.Membership, int, error) {
	if len(rows) == 0 {
		return nil, 0, nil
	}
	if len(rows) <= limit {
		return rows, len(rows), nil
	}
	total, err := count()
	if err != nil {
		return nil, 0, msgs.Classify(err)
	}
	return rows[:limit], int(total), nil
}

// invitationPage returns rows, one page of an invitee's invitations read
// with a LIMIT of limit, and how many there are in all: len(rows) for a
// first page that did not fill up, count's answer otherwise (a second query
// only for an invitee with more than a page, or on a later page).
func invitationPage(rows []app.InvitationRecord, after int64, limit int, count func() (int64, error)) ([]app.InvitationRecord, int, error) {
	if after == 0 && len(rows) < limit {
		return rows, len(rows), nil
	}
	total, err := count()
	if err != nil {
		return nil, 0, msgs.Classify(fmt.Errorf("count the invitee's invitations: %w", err))
	}
	return rows, int(total), nil
}

// optional is a nullable column value: NULL (leave the column as it is) for nil.
func optional(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

var errNotMember = apperr.New(apperr.NotFound, "That user is not a member of this property; invite them by email.")

// errPropertyFull is an accepted invitation to a property with app.MaxMembers.
var errPropertyFull = apperr.New(apperr.Conflict, "A property has at most %d members.", app.MaxMembers)

// membershipReads are the reads a membership change makes inside its transaction.
type membershipReads struct {
	lock   func() (int64, error) // takes the property's row lock; 0 rows: no such property
	member func(userID int64) (app.MemberRecord, error)
	owners func() (int64, error)
}

// checkMembershipChange runs, inside the membership change's transaction
// after the property is locked, the rules that must hold at the moment of the
// change: the caller may change the property (app.AccessOf, app.CanChange:
// an ownership revoked a moment ago no longer counts), and the property keeps
// at least one owner (no demoting, newLevel other than owner, or removing,
// newLevel "", of its last owner). The target must be a member already.
func checkMembershipChange(rd membershipReads, caller app.Caller, target int64, newLevel string) error {
	n, err := rd.lock()
	if err != nil {
		return err
	}
	if n == 0 {
		return app.ErrNoProperty
	}
	var mine *app.MemberRecord
	me, err := rd.member(caller.UserID)
	switch {
	case err == nil:
		mine = &me
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	level, ok := app.AccessOf(mine, caller)
	if !ok {
		return app.ErrNoProperty
	}
	if !app.CanChange(level) {
		return app.ErrNotOwner
	}
	current, err := rd.member(target)
	if errors.Is(err, sql.ErrNoRows) {
		// Nobody becomes a member by another's request: a new member accepts
		// an invitation (see app.Service.Invite).
		return errNotMember
	}
	if err != nil {
		return err
	}
	if current.AccessLevel != app.Owner || newLevel == app.Owner {
		return nil
	}
	count, err := rd.owners()
	if err != nil {
		return err
	}
	if count <= 1 {
		return apperr.New(apperr.Conflict, "A property must keep at least one owner.")
	}
	return nil
}

// hashValue is a secret hash as its nullable column holds it.
func hashValue(h string) sql.NullString { return sql.NullString{String: h, Valid: h != ""} }

// secretMatches compares an invitation's stored secret hash with the hash of
// the secret presented, in constant time (the two have the same length, the
// comparison takes the same time wherever they differ). A NULL (an
// invitation from before secrets, not sent again since) matches nothing.
func secretMatches(stored sql.NullString, presented string) bool {
	return stored.Valid && presented != "" && subtle.ConstantTimeCompare([]byte(stored.String), []byte(presented)) == 1
}

// invitationRecord is a stored invitation as the app sees it: sent when the
// mail server took its current secret's mail.
func invitationRecord(id, propertyID int64, propertyName, email, level string, invitedBy int64, invitedByEmail string,
	createdAt, expiresAt int64, sentAt sql.NullInt64) app.InvitationRecord {
	return app.InvitationRecord{ID: id, PropertyID: propertyID, PropertyName: propertyName, Email: email, AccessLevel: level,
		InvitedBy: invitedBy, InvitedByEmail: invitedByEmail, CreatedAt: createdAt, ExpiresAt: expiresAt, Sent: sentAt.Valid}
}
