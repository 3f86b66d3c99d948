package adapters

import (
	"jeeves4service/services/common/apperr"
	"jeeves4service/services/common/database"
)

func classify(err error) error {
	return database.Classify(err, "No such user.", "That email is already registered.")
}

func rowsOrNotFound(n int64, err error) error {
	if err != nil {
		return classify(err)
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "No such user.")
	}
	return nil
}
