package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/emailaddr"
)

// StoredInvitationEmail is a pending invitation stored before issue 34 whose
// address is to be checked against today's canonical form.
type StoredInvitationEmail struct {
	ID, PropertyID int64
	Email          string
}

// InvitationEmailRepository keeps the list of invitations to check (filled
// once by the migration that came with issue 34). SetInvitationEmail answers
// apperr.NotFound when the invitation or its email changed meanwhile, and
// apperr.Conflict when the property has a pending invitation to the new
// form already; InvitationEmailChecked takes an invitation off the list.
type InvitationEmailRepository interface {
	InvitationEmailsToCheck(ctx context.Context) ([]StoredInvitationEmail, error)
	SetInvitationEmail(ctx context.Context, id int64, stored, canonical string) error
	InvitationEmailChecked(ctx context.Context, id int64) error
}

// InvitationEmailIssue is a stored invitation put in no new form, or one
// whose address may stand for another mailbox. Such an invitation is kept:
// an invitation whose email is not canonical is seen by nobody (invitee
// compares canonical forms) and expires; one that may be folded is seen by
// the account of its stored form, as before, until it is revoked.
type InvitationEmailIssue struct {
	InvitationID, PropertyID int64
	// Kind is what is wrong: InvalidEmail, TakenEmail or FoldedEmail.
	Kind string
	// Rule is the rule an invalid email breaks.
	Rule string
}

// The kinds of InvitationEmailIssue.
const (
	InvalidEmail = "invalid"     // no canonical form today
	TakenEmail   = "taken"       // the property has a pending invitation to the new form already
	FoldedEmail  = "maybe-other" // the old form may have merged it with another mailbox (emailaddr.MayHaveBeenFolded)
)

// CanonicaliseInvitationEmails puts every listed invitation's email in
// today's canonical form and reports those it could not, or that may be
// another mailbox's, each once: every listed invitation is taken off the
// list when looked at. It runs at every start before the service takes
// traffic (nothing is listed after the first). fixed counts the emails
// changed.
func (s *Service) CanonicaliseInvitationEmails(ctx context.Context) (fixed int, issues []InvitationEmailIssue, err error) {
	stored, err := s.Repo.InvitationEmailsToCheck(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("list invitation emails to check: %w", err)
	}
	for _, inv := range stored {
		issue := InvitationEmailIssue{InvitationID: inv.ID, PropertyID: inv.PropertyID}
		canonical, err := emailaddr.Canonical(inv.Email)
		var bad *emailaddr.Error
		switch {
		case errors.As(err, &bad):
			issue.Kind, issue.Rule = InvalidEmail, bad.Rule.Message()
			issues = append(issues, issue)
		case err != nil:
			return fixed, issues, fmt.Errorf("canonicalise the email of invitation %d: %w", inv.ID, err)
		case canonical != inv.Email:
			err := s.Repo.SetInvitationEmail(ctx, inv.ID, inv.Email, canonical)
			switch apperr.CodeOf(err) {
			case "":
				if err != nil {
					return fixed, issues, fmt.Errorf("canonicalise the email of invitation %d: %w", inv.ID, err)
				}
				fixed++
			case apperr.Conflict:
				issue.Kind = TakenEmail
				issues = append(issues, issue)
			case apperr.NotFound: // changed meanwhile (another replica did it)
			default:
				return fixed, issues, fmt.Errorf("canonicalise the email of invitation %d: %w", inv.ID, err)
			}
		}
		if emailaddr.MayHaveBeenFolded(inv.Email) {
			issues = append(issues, InvitationEmailIssue{InvitationID: inv.ID, PropertyID: inv.PropertyID, Kind: FoldedEmail})
		}
		if err := s.Repo.InvitationEmailChecked(ctx, inv.ID); err != nil {
			return fixed, issues, fmt.Errorf("take invitation %d off the list to check: %w", inv.ID, err)
		}
	}
	return fixed, issues, nil
}
