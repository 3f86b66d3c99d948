package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/emailaddr"
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
	// MayBeOther: the account keeps its email, in canonical form and able to
	// log in, but it was stored in the form from before issue 34, which
	// folded ß, ς and ι, and may stand for another mailbox
	// (emailaddr.MayHaveBeenFolded): boss@strasse.de may have been
	// registered as boss@straße.de, today another account's address.
	MayBeOther bool
}

// CanonicaliseStoredEmails puts every stored email not yet known to be
// canonical in its canonical form (emailaddr), oldest account first, and
// reports those it could not: an email with no canonical form, and one whose
// canonical form another account has (an account already in that form keeps
// it; otherwise the oldest gets it). It runs at every start before the
// service takes traffic; after the first, only the reported accounts are
// looked at again. fixed counts the emails changed or confirmed; an email
// confirmed that may be another mailbox's is reported too, once (issue 34's
// migration lists again the accounts whose form may have changed).
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
			if emailaddr.MayHaveBeenFolded(e.Email) {
				issues = append(issues, EmailIssue{UserID: e.ID, MayBeOther: true})
			}
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
