package app

import (
	"context"
	"errors"
	"fmt"

	"jeeves4service/services/common/apperr"
	"jeeves4service/services/common/emailaddr"
)

// EmailIssue is an account from before the canonical form whose stored
// email could not be put in it: it keeps its email as it was, and cannot log
// in with a password (no address a login accepts is that email) until an
// operator resolves it. Its live sessions go on.
type EmailIssue struct {
	UserID int64
	// CollidesWith is the account that has the canonical form already (0: none).
	CollidesWith int64
	// Rule is the rule the stored email breaks ("" for a collision).
	Rule string
}

// CanonicaliseStoredEmails puts every stored email not yet known to be
// canonical in its canonical form (emailaddr), oldest account first, and
// reports those it could not: an email with no canonical form, and one whose
// canonical form another account has (an account already in that form keeps
// it; otherwise the oldest gets it). It runs at every start before the
// service takes traffic; after the first, only the reported accounts are
// looked at again. fixed counts the emails changed or confirmed.
func (s *Service) CanonicaliseStoredEmails(ctx context.Context) (fixed int, issues []EmailIssue, err error) {
	stored, err := s.Repo.UncheckedEmails(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("list emails to canonicalise: %w", err)
	}
	for _, e := range stored {
		canonical, err := emailaddr.Canonical(e.Email)
		var bad *emailaddr.Error
		if errors.As(err, &bad) {
			issues = append(issues, EmailIssue{UserID: e.ID, Rule: bad.Rule.Message()})
			continue
		}
		err = s.Repo.SetCanonicalEmail(ctx, e.ID, e.Email, canonical)
		switch apperr.CodeOf(err) {
		case "":
			if err != nil {
				return fixed, issues, fmt.Errorf("canonicalise the email of user %d: %w", e.ID, err)
			}
			fixed++
		case apperr.Conflict:
			issue := EmailIssue{UserID: e.ID}
			if other, err := s.Repo.ByEmail(ctx, canonical); err == nil {
				issue.CollidesWith = other.ID
			}
			issues = append(issues, issue)
		case apperr.NotFound: // changed meanwhile (another replica did it)
		default:
			return fixed, issues, fmt.Errorf("canonicalise the email of user %d: %w", e.ID, err)
		}
	}
	return fixed, issues, nil
}
