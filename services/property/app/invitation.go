package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"jeeves4service/services/common/apperr"
	"jeeves4service/services/common/emailaddr"
	"jeeves4service/services/common/ratelimit"
	"jeeves4service/services/common/reqinfo"
)

// Invitations: an owner invites an email address; only the person signed in
// with that address accepts (and so becomes a member) or declines. No
// request makes anyone but its caller a member: the creator of a property
// owns it, and an accepted invitation adds the one who accepts it.
const (
	MaxInvitations        = 100 // pending invitations of one property (also in sql/queries/property.sql), and per list
	DefaultInvitationDays = 7
	MaxInvitationDays     = 30
)

// InvitationRecord is a stored invitation, with its property's name.
type InvitationRecord struct {
	ID           int64
	PropertyID   int64
	PropertyName string
	Email        string
	AccessLevel  string
	InvitedBy    int64
	CreatedAt    int64
	ExpiresAt    int64
	// Sent: the mail server took the mail of its current secret. An
	// unsent invitation can be sent again by an owner (SendAgain).
	Sent bool
}

// InvitationRepository is the storage of invitations. Writes by an owner
// (PutInvitation, RevokeInvitation) check the ownership in the same statement
// and answer apperr.NotFound when there was nothing the caller may change;
// PutInvitation answers apperr.Conflict when the property has MaxInvitations
// pending. Each invitation keeps only the hash of its mailed secret
// (SecretHash): PutInvitation and RenewInvitationSecret replace it, unsent, and
// MarkInvitationSent records that the mail of that hash was taken.
// AcceptInvitation adds userID as a member at the invitation's level (a member
// keeps theirs) and removes the invitation in one transaction, apperr.NotFound
// when no pending invitation id is addressed to email with that secret's
// hash (compared in constant time), and apperr.Conflict when the property has
// MaxMembers.
type InvitationRepository interface {
	PutInvitation(ctx context.Context, propertyID, caller int64, email, level, secretHash string,
		now, expires time.Time) (InvitationRecord, error)
	RenewInvitationSecret(ctx context.Context, propertyID, id, caller int64, secretHash string, now time.Time) (InvitationRecord, error)
	MarkInvitationSent(ctx context.Context, id int64, secretHash string, now time.Time) error
	PropertyInvitations(ctx context.Context, propertyID int64, now time.Time) ([]InvitationRecord, error)
	EmailInvitations(ctx context.Context, email string, now time.Time) ([]InvitationRecord, error)
	RevokeInvitation(ctx context.Context, propertyID, id, caller int64) error
	AcceptInvitation(ctx context.Context, id int64, email, secretHash string, userID int64, now time.Time) (MemberRecord, error)
	DeclineInvitation(ctx context.Context, id int64, email string, now time.Time) error
}

// InvitationMail is what an invitation's addressee receives: the only copy
// of its secret (the database keeps a hash). Nothing logs it but the
// MAIL_TO_LOG mailer of make run.
type InvitationMail struct {
	InvitationID int64
	To           string // the canonical address invited
	PropertyName string
	AccessLevel  string
	ExpiresAt    time.Time
	Secret       string
}

// Mailer sends an invitation's mail (SMTP, or make run's log). An error
// means it was not sent: the invitation is kept, unsent, and an owner may
// send it again.
type Mailer interface {
	SendInvitation(ctx context.Context, m InvitationMail) error
}

// InvitationBudgets bound how many invitations are sent: per owner and per
// property (nil: no budget). Only an owner of the property spends them, so
// nobody else can spend a property's budget.
type InvitationBudgets struct {
	PerOwner, PerProperty ratelimit.Limiter
}

// ErrNoInvitation is the answer for an invitation that is not addressed to
// the caller, has expired or is gone (one answer for all, so that ids say
// nothing about invitations to others).
var ErrNoInvitation = apperr.New(apperr.NotFound, "No such invitation.")

// invitee is the caller's canonical email, or "" when the token carries none.
func invitee(c Caller) string {
	if c.Email == "" {
		return ""
	}
	canonical, err := emailaddr.Canonical(c.Email)
	if err != nil || canonical != c.Email {
		return "" // the user service signs only canonical addresses: anything else is not one
	}
	return canonical
}

// Invite invites email to property id at level, expiring after days (0: the
// default). The answer does not depend on whether the address has an account:
// the property service does not know.
func (s *Service) Invite(ctx context.Context, c Caller, id int64, email, level string, days int) (InvitationRecord, error) {
	canonical, err := emailaddr.Canonical(email)
	var bad *emailaddr.Error
	if errors.As(err, &bad) {
		return InvitationRecord{}, apperr.InvalidField("The email address is not valid.", "email", bad.Rule.Message())
	}
	if err != nil {
		return InvitationRecord{}, err
	}
	if !ValidAccessLevel(level) {
		return InvitationRecord{}, apperr.InvalidField("access_level must be owner, member or guest.", "access_level",
			"must be owner, member or guest")
	}
	if days == 0 {
		days = DefaultInvitationDays
	}
	if days < 1 || days > MaxInvitationDays {
		return InvitationRecord{}, apperr.InvalidField("expires_in_days must be 1 to 30.", "expires_in_days", "must be 1 to 30")
	}
	// The budgets are spent only by an owner: anyone else would spend the
	// property's budget and keep its owners from inviting.
	if _, err := s.changeable(ctx, c, id); err != nil {
		return InvitationRecord{}, err
	}
	if err := s.spendInvitation(ctx, c.UserID, id); err != nil {
		return InvitationRecord{}, err
	}
	secret, hash, err := newSecret()
	if err != nil {
		return InvitationRecord{}, err
	}
	now := s.now()
	inv, err := s.Repo.PutInvitation(ctx, id, c.UserID, canonical, level, hash, now, now.Add(time.Duration(days)*24*time.Hour))
	if apperr.CodeOf(err) == apperr.NotFound {
		if _, err := s.changeable(ctx, c, id); err != nil {
			return InvitationRecord{}, err
		}
		return InvitationRecord{}, apperr.New(apperr.Conflict, "A property has at most %d pending invitations.", MaxInvitations)
	}
	if err != nil {
		return InvitationRecord{}, err
	}
	return s.mail(ctx, inv, secret, hash)
}

// SendAgain mails a pending invitation of property id again (owners only),
// with a new secret: the old one dies, so a mail sent to the wrong place or
// never delivered is worth nothing. It spends the invitation budgets as an
// invitation does (each is a mail to someone who did not ask for it).
func (s *Service) SendAgain(ctx context.Context, c Caller, id, invitation int64) (InvitationRecord, error) {
	if _, err := s.changeable(ctx, c, id); err != nil {
		return InvitationRecord{}, err
	}
	if err := s.spendInvitation(ctx, c.UserID, id); err != nil {
		return InvitationRecord{}, err
	}
	secret, hash, err := newSecret()
	if err != nil {
		return InvitationRecord{}, err
	}
	inv, err := s.Repo.RenewInvitationSecret(ctx, id, invitation, c.UserID, hash, s.now())
	if apperr.CodeOf(err) == apperr.NotFound {
		return InvitationRecord{}, ErrNoInvitation
	}
	if err != nil {
		return InvitationRecord{}, err
	}
	return s.mail(ctx, inv, secret, hash)
}

// mail sends inv's mail with its secret and records it sent when the mail
// server took it. A mail not sent is no error of the request: the
// invitation is kept, unsent (the mailer logs why), for an owner to send
// again.
func (s *Service) mail(ctx context.Context, inv InvitationRecord, secret, hash string) (InvitationRecord, error) {
	inv.Sent = false
	if s.Mailer == nil {
		return inv, nil
	}
	err := s.Mailer.SendInvitation(ctx, InvitationMail{InvitationID: inv.ID, To: inv.Email, PropertyName: inv.PropertyName,
		AccessLevel: inv.AccessLevel, ExpiresAt: time.Unix(inv.ExpiresAt, 0), Secret: secret})
	if err != nil {
		return inv, nil
	}
	if err := s.Repo.MarkInvitationSent(ctx, inv.ID, hash, s.now()); err != nil {
		return InvitationRecord{}, fmt.Errorf("record invitation %d sent: %w", inv.ID, err)
	}
	inv.Sent = true
	return inv, nil
}

// secretBytes is the entropy of an invitation's secret: 256 bits, beyond
// any guessing, so a wrong secret needs no budget of its own.
const secretBytes = 32

// newSecret makes an invitation's single-use secret (URL-safe base64, 43
// characters) and its hash, the only form stored.
func newSecret() (secret, hash string, err error) {
	var raw [secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("invitation secret: %w", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(raw[:])
	return secret, SecretHash(secret), nil
}

// SecretHash is the stored form of an invitation's secret: its SHA-256, in
// hex. A fast hash is enough: the secret has 256 random bits, not a
// person's choice, so nothing can be learned by trying candidates.
func SecretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// spendInvitation spends one unit of the owner's and of the property's
// invitation budget; the one that refuses governs the answer's RateLimit
// fields, and the one spent last a 201's.
func (s *Service) spendInvitation(ctx context.Context, owner, property int64) error {
	keys := []struct {
		name, key string
		l         ratelimit.Limiter
	}{
		{"invitations-owner", "owner:" + strconv.FormatInt(owner, 10), s.Budgets.PerOwner},
		{"invitations-property", "property:" + strconv.FormatInt(property, 10), s.Budgets.PerProperty},
	}
	var taken []func()
	for _, k := range keys {
		if k.l == nil {
			continue
		}
		d := k.l.Take(ctx, k.key)
		reqinfo.From(ctx).RateLimit = ratelimit.Governing{Name: k.name, Budget: k.l.Budget(), Decision: d}
		if !d.Allowed {
			for _, refund := range taken {
				refund()
			}
			return &apperr.Error{Code: apperr.RateLimited, Message: "Too many invitations; try again later.", RetryAfter: d.RetryAfter}
		}
		l, key := k.l, k.key
		taken = append(taken, func() { l.Refund(ctx, key) })
	}
	return nil
}

// PropertyInvitations lists a property's pending invitations (owners only),
// with the inviters' names when the user service answers.
func (s *Service) PropertyInvitations(ctx context.Context, c Caller, id int64) ([]InvitationRecord, Names, error) {
	if _, err := s.changeable(ctx, c, id); err != nil {
		return nil, Names{}, err
	}
	list, err := s.Repo.PropertyInvitations(ctx, id, s.now())
	if err != nil {
		return nil, Names{}, err
	}
	return list, s.names(ctx, id, inviters(list)), nil
}

// inviters are the distinct users who sent list.
func inviters(list []InvitationRecord) []int64 {
	seen := map[int64]bool{}
	var ids []int64
	for _, i := range list {
		if !seen[i.InvitedBy] {
			seen[i.InvitedBy] = true
			ids = append(ids, i.InvitedBy)
		}
	}
	return ids
}

// RevokeInvitation removes a pending invitation of property id (owners only).
func (s *Service) RevokeInvitation(ctx context.Context, c Caller, id, invitation int64) error {
	if _, err := s.changeable(ctx, c, id); err != nil {
		return err
	}
	err := s.Repo.RevokeInvitation(ctx, id, invitation, c.UserID)
	if apperr.CodeOf(err) == apperr.NotFound {
		return ErrNoInvitation
	}
	return err
}

// MyInvitations lists the pending invitations addressed to the caller's
// email, without the inviters' names: the user service shows a person's
// name only to someone it has seen share a property with them, and an
// invitee does not yet.
func (s *Service) MyInvitations(ctx context.Context, c Caller) ([]InvitationRecord, Names, error) {
	email := invitee(c)
	if email == "" {
		return nil, Names{}, nil
	}
	list, err := s.Repo.EmailInvitations(ctx, email, s.now())
	if err != nil {
		return nil, Names{}, err
	}
	return list, Names{}, nil
}

// Accept makes the caller a member by an invitation addressed to them, with
// the secret its mail carried: a signed-in account of the invited address
// proves only that someone registered the address, the secret that they
// read its mail (issue 34). A wrong or missing secret is the same 404 as an
// invitation addressed to someone else, and changes nothing.
func (s *Service) Accept(ctx context.Context, c Caller, invitation int64, secret string) (MemberRecord, error) {
	email := invitee(c)
	if email == "" || secret == "" {
		return MemberRecord{}, ErrNoInvitation
	}
	m, err := s.Repo.AcceptInvitation(ctx, invitation, email, SecretHash(secret), c.UserID, s.now())
	if apperr.CodeOf(err) == apperr.NotFound {
		return MemberRecord{}, ErrNoInvitation
	}
	return m, err
}

// Decline removes an invitation addressed to the caller; nobody becomes a member.
func (s *Service) Decline(ctx context.Context, c Caller, invitation int64) error {
	email := invitee(c)
	if email == "" {
		return ErrNoInvitation
	}
	err := s.Repo.DeclineInvitation(ctx, invitation, email, s.now())
	if apperr.CodeOf(err) == apperr.NotFound {
		return ErrNoInvitation
	}
	return err
}
