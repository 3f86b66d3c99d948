package adapters

import (
	"context"

	db "github.com/jeeves4service/jeeves4service/gen/db/propertypg"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// InvitationEmailsToCheck implements app.Repository.
func (r *Postgres) InvitationEmailsToCheck(ctx context.Context) ([]app.StoredInvitationEmail, error) {
	rows, err := r.q.InvitationEmailsToCheck(ctx)
	return convert(rows, func(x db.InvitationEmailsToCheckRow) app.StoredInvitationEmail { return app.StoredInvitationEmail(x) }),
		msgs.Classify(err)
}

// SetInvitationEmail implements app.Repository.
func (r *Postgres) SetInvitationEmail(ctx context.Context, id int64, stored, canonical string) error {
	n, err := r.q.SetInvitationEmail(ctx, db.SetInvitationEmailParams{ID: id, Stored: stored, Canonical: canonical})
	return msgs.Rows(n, err)
}

// InvitationEmailChecked implements app.Repository.
func (r *Postgres) InvitationEmailChecked(ctx context.Context, id int64) error {
	return msgs.Classify(r.q.InvitationEmailChecked(ctx, id))
}
