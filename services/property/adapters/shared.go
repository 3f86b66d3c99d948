package adapters

import (
	"database/sql"
	"errors"

	"jeeves4service/services/common/apperr"
	"jeeves4service/services/common/database"
	"jeeves4service/services/property/app"
)

// msgs is what this repository says when a row is missing or duplicated.
var msgs = database.Messages{NotFound: "No such property or member.", Conflict: "That already exists."}

func convert[From, To any](rows []From, f func(From) To) []To {
	out := make([]To, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out
}

// lockAndCheckOwner runs, inside the membership change's transaction, the rule
// that a property keeps at least one owner: it locks the property, then refuses
// to demote (newLevel other than owner) or remove (newLevel "") its last owner.
func lockAndCheckOwner(lock func() (int64, error), member func() (app.MemberRecord, error),
	owners func() (int64, error), newLevel string) error {
	n, err := lock()
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "No such property.")
	}
	current, err := member()
	if errors.Is(err, sql.ErrNoRows) {
		if newLevel == "" {
			return apperr.New(apperr.NotFound, "That user is not a member of this property.")
		}
		return nil
	}
	if err != nil {
		return err
	}
	if current.AccessLevel != app.Owner || newLevel == app.Owner {
		return nil
	}
	count, err := owners()
	if err != nil {
		return err
	}
	if count <= 1 {
		return apperr.New(apperr.Conflict, "A property must keep at least one owner.")
	}
	return nil
}
