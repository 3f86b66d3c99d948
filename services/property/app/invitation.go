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

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/emailaddr"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
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
// InvitedByEmail is the inviter's canonical address from their verified
// access token ("" for an invitation stored before it was recorded).
type InvitationRecord struct {
	ID             int64
	PropertyID     int64
	PropertyName   string
	Email          string
	AccessLevel    string
	InvitedBy      int64
	InvitedByEmail string
	CreatedAt      int64
	ExpiresAt      int64
	// Sent: the mail server took the mail of its current secret. An
	// unsent invitation can be sent again by an owner (SendAgain).
	Sent bool
}

// InvitationRepository is the storage of invitations. Writes by an owner
// (PutInvitation, RevokeInvitation) check the ownership in the same statement
// and answer apperr.NotFound when there was nothing the caller may change;
// PutInvitation answers apperr.Conflict when the property has MaxInvitations
// pending. AcceptInvitation adds userID as a member at the invitation's level
// (a member keeps theirs) and removes the invitation in one transaction,
// apperr.NotFound when no pending invitation id is addressed to email, and
// apperr.Conflict when the property has MaxMembers.
//
// An invitation is its inviter's act only while the inviter owns the
// property: PutMember and RemoveMember revoke the pending invitations of an
// owner they demote or remove, in their transaction, and every read that
// lists, accepts or declines one skips those whose inviter is no longer an
// owner (one written in a race with the revocation), so such an invitation
// is gone: apperr.NotFound, like any other.
//
// Each invitation keeps only the hash of its mailed secret (secretHash):
// PutInvitation and RenewInvitationSecret replace it, unsent, and
// MarkInvitationSent records that the mail of that hash was taken;
// AcceptInvitation also needs that secret's hash (compared in constant time),
// apperr.NotFound otherwise.
type InvitationRepository interface {
	PutInvitation(ctx context.Context, propertyID, caller int64, callerEmail, email, level, secretHash string,
		now, expires time.Time) (InvitationRecord, error)
	RenewInvitationSecret(ctx context.Context, propertyID, id, caller int64, secretHash string, now time.Time) (InvitationRecord, error)
	MarkInvitationSent(ctx context.Context, id int64, secretHash string, now time.Time) error
	PropertyInvitations(ctx context.Context, propertyID int64, now time.Time) ([]InvitationRecord, error)
	// EmailInvitations is one page of the invitations addressed to email (ids
	// above after, by id, at most limit) and how many there are in all.
	EmailInvitations(ctx context.Context, email string, after int64, limit int, now time.Time) ([]InvitationRecord, int, error)
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

// InvitationBudgets bound how many invitations are sent: per owner, per
// property, and per inviter and invited address (nil: no budget). Only an
// owner of the property spends them, so nobody else can spend a property's
// budget.
//
// PerInvitee bounds what one stranger sends one address: nobody asked for
// an invitation, and the property service cannot tell a friend from a
// stranger by an address (it knows people by id, and an address only from
// its holder's own token), so every inviter counts as one. It is kept per
// inviter as well as per address so that strangers spending it cannot keep
// a real inviter from reaching the address; what bounds the total is the
// number of accounts times it, and what keeps real invitations visible among
// the rest is the paged list with its true count and each inviter's
// account email, as its signed access token says (registration proves no mailbox).
type InvitationBudgets struct {
	PerOwner, PerProperty, PerInvitee ratelimit.Limiter
}

// ErrNoInviterEmail refuses an invitation from a token without an email
// claim: the invitee could not see who sent it.
var ErrNoInviterEmail = apperr.New(apperr.Forbidden,
	"Your account has no email address in canonical form, so an invitee could not see who invited them; you cannot invite.")

// ErrNoInvitation is the answer for an invitation that is not addressed to
// the caller, has expired or is gone (one answer for all, so that ids say
// nothing about invitations to others).
var ErrNoInvitation = apperr.New(apperr.NotFound, "No such invitation.")

// invitee is the caller's canonical email, or "" when the token carries none:
// the address their invitations are matched against, and the one their own
// invitations show as their inviter's.
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
	from := invitee(c)
	if from == "" {
		return InvitationRecord{}, ErrNoInviterEmail
	}
	if err := s.spendInvitation(ctx, c.UserID, id, canonical); err != nil {
		return InvitationRecord{}, err
	}
	secret, hash, err := newSecret()
	if err != nil {
		return InvitationRecord{}, err
	}
	now := s.now()
	inv, err := s.Repo.PutInvitation(ctx, id, c.UserID, from, canonical, level, hash, now, now.Add(time.Duration(days)*24*time.Hour))
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
	// The invited address's budget needs the address: read the invitation
	// first (a pending one of this property, or 404 with no budget spent).
	pending, err := s.Repo.PropertyInvitations(ctx, id, s.now())
	if err != nil {
		return InvitationRecord{}, err
	}
	email := ""
	for _, i := range pending {
		if i.ID == invitation {
			email = i.Email
		}
	}
	if email == "" {
		return InvitationRecord{}, ErrNoInvitation
	}
	if err := s.spendInvitation(ctx, c.UserID, id, email); err != nil {
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

// spendInvitation spends one unit of the owner's, the property's, and the
// owner's budget for the invited address; the one that refuses governs the
// answer's RateLimit fields (and the ones spent before it are refunded), and
// the one spent last a 201's.
func (s *Service) spendInvitation(ctx context.Context, owner, property int64, email string) error {
	keys := []struct {
		name, key string
		l         ratelimit.Limiter
	}{
		{"invitations-owner", "owner:" + strconv.FormatInt(owner, 10), s.Budgets.PerOwner},
		{"invitations-property", "property:" + strconv.FormatInt(property, 10), s.Budgets.PerProperty},
		{"invitations-invitee", inviteeKey(owner, email), s.Budgets.PerInvitee},
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

// inviteeKey is the PerInvitee budget's key: the inviter and a digest of the
// address, so that a shared store (Redis) holds no addresses in its keys.
func inviteeKey(inviter int64, email string) string {
	sum := sha256.Sum256([]byte(email))
	return "invitee:" + strconv.FormatInt(inviter, 10) + ":" + hex.EncodeToString(sum[:16])
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

// InvitationPage is one page of the caller's own invitations: Total is how
// many there are in all, Next the page's last id when more follow (0: none).
type InvitationPage struct {
	Invitations []InvitationRecord
	Total       int
	Next        int64
}

// MyInvitations lists one page of the pending invitations addressed to the
// caller's email (ids above after, at most limit, by id), without the
// inviters' names: the user service shows a person's name only to someone
// it has seen share a property with them, and an invitee does not yet. Each
// carries its inviter's account email instead. The list is paged with a
// true total so that invitations nobody asked for cannot push a real one
// out of sight.
func (s *Service) MyInvitations(ctx context.Context, c Caller, after int64, limit int) (InvitationPage, error) {
	if limit <= 0 || limit > MaxInvitations {
		limit = MaxInvitations
	}
	email := invitee(c)
	if email == "" {
		return InvitationPage{}, nil
	}
	// One more than the page: whether it comes says whether there is a next page.
	list, total, err := s.Repo.EmailInvitations(ctx, email, after, limit+1, s.now())
	if err != nil {
		return InvitationPage{}, err
	}
	page := InvitationPage{Invitations: list, Total: total}
	if len(list) > limit {
		page.Invitations = list[:limit]
		page.Next = list[limit-1].ID
	}
	return page, nil
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
