package adapters

import (
	"jeeves4service/services/common/database"
)

// msgs is what this repository says when a row is missing or duplicated.
var msgs = database.Messages{NotFound: "No such user.", Conflict: "That email is already registered."}
