// Package app holds the user service's rules: registration, login (with the
// property claims fetched from the property service), password changes.
// It knows nothing of HTTP or SQL.
package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/emailaddr"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// UserRecord mirrors sqlc's users row on both engines (plain type conversion).
type UserRecord struct {
	ID           int64
	Email        string
	PasswordHash string
	FirstName    string
	LastName     string
	IsAdmin      bool
	IsActive     bool
	CreatedAt    int64
	UpdatedAt    int64
	// CredentialEpoch is the password's version: a session starts only if it
	// is still the one read with the hash the password was checked against.
	CredentialEpoch int64
	// EmailCanonical: Email is known to be in canonical form (false only for
	// an account from before the canonical form that could not be given it).
	EmailCanonical bool
}

// NewUser is what registration stores.
type NewUser struct {
	Email        string
	PasswordHash string
	FirstName    string
	LastName     string
	IsAdmin      bool
}

// Repository is the storage the rules need.
type Repository interface {
	Create(ctx context.Context, u NewUser, now time.Time) (UserRecord, error)
	ByEmail(ctx context.Context, email string) (UserRecord, error)
	ByID(ctx context.Context, id int64) (UserRecord, error)
	// ReplacePassword stores hash, bumps the credential epoch and ends every
	// session of the user, in one transaction, if the epoch is still epoch
	// (the one read with the hash the current password was checked against);
	// ErrCredentialsChanged if it is not.
	ReplacePassword(ctx context.Context, id, epoch int64, hash string, now time.Time) error
	// UncheckedEmails lists the accounts whose email is not known to be in
	// canonical form, oldest first; SetCanonicalEmail stores one's canonical
	// form if its email is still stored (apperr.Conflict: another account
	// has that form).
	UncheckedEmails(ctx context.Context) ([]StoredEmail, error)
	SetCanonicalEmail(ctx context.Context, id int64, stored, canonical string) error
	MembershipRepository
	Ping(ctx context.Context) error
}

// StoredEmail is an account's email as stored.
type StoredEmail struct {
	ID    int64
	Email string
}

// ErrCredentialsChanged: the user's password changed (or the user was
// deactivated) after the credentials were checked; nothing was stored.
var ErrCredentialsChanged = errors.New("the credentials changed after they were checked")

// Store is both repositories, as each engine's adapter implements them.
type Store interface {
	Repository
	SessionRepository
}

// PropertyClaims is a user's properties as the property service lists them:
// at most the number asked for, and how many there are in all.
type PropertyClaims struct {
	Claims []jwtauth.PropertyClaim
	Total  int
}

// PropertySource asks the property service for at most limit of a user's
// properties. Any error means "not available now": login goes on without
// property claims.
type PropertySource interface {
	UserProperties(ctx context.Context, userID int64, limit int) (PropertyClaims, error)
}

// TokenSigner signs session tokens.
type TokenSigner interface {
	Sign(c jwtauth.Claims, now time.Time) (string, time.Time, error)
}

// Service is the user use cases.
type Service struct {
	Repo     Repository
	Sessions SessionRepository
	// RefreshTTL bounds a session's whole life (REFRESH_TTL, default 30 days).
	RefreshTTL time.Duration
	// OnReuse is told that a spent refresh token came back (the family is revoked).
	OnReuse    func(ctx context.Context, f FamilyRecord, clientIP string)
	Properties PropertySource
	Signer     TokenSigner
	// AccessTTL is how long an access token lives (JWT_TTL): the most a
	// subject's own seen memberships may be behind its token (profiles.go).
	AccessTTL time.Duration
	// MaxPropertyClaims bounds the number of property claims (the Signer's
	// byte budget, JWT_MAX_BYTES, their bytes); past it the token says
	// properties_truncated and other services ask the property service.
	MaxPropertyClaims int
	Now               func() time.Time
	// OnDegraded is told why a login went on without property claims.
	OnDegraded func(ctx context.Context, userID int64, err error)
	// OnUnrecorded is told why the memberships a login saw were not
	// recorded (the login goes on: see sign).
	OnUnrecorded func(ctx context.Context, userID int64, err error)
	// OnLogin is told each login's outcome: success, bad_credentials,
	// rate_limited or error; OnClaims whether a signed token got property
	// claims (the metrics).
	OnLogin  func(outcome string)
	OnClaims func(included bool)
	// OnHash is told of every argon2id computation that starts, by kind:
	// hash (a new password) or check. What a flood of attempts really
	// costs the cores.
	OnHash func(kind string)
	// NewSessionID makes the trace_id of a session.
	NewSessionID func() string
	// Budgets bound every door that runs argon2id.
	Budgets Budgets
	// Interleave, when set, is called where a concurrent password change
	// decides a race (see Point). Production leaves it nil; tests set it to
	// force the interleavings the fences are proved against.
	Interleave func(ctx context.Context, at Point, userID int64)
}

// Point names a place where Interleave is called.
type Point int

const (
	// AfterPasswordCheck: a login checked the password against the hash it
	// read, and has not created its session yet.
	AfterPasswordCheck Point = iota + 1
	// InRotation: a refresh found its session live, inside the transaction
	// that spends its refresh token, before that transaction commits.
	InRotation
)

func (s *Service) interleave(ctx context.Context, at Point, userID int64) {
	if s.Interleave != nil {
		s.Interleave(ctx, at, userID)
	}
}

// Budgets are spent before a password is hashed or checked (or a refresh
// token looked up), so a burst of concurrent attempts gets no more checks
// than the budget (nil: unbounded).
type Budgets struct {
	// LoginPerIP and LoginPerEmail count failed logins (a success refunds).
	LoginPerIP, LoginPerEmail ratelimit.Limiter
	// RegisterPerIP counts registrations: each one hashes a password.
	RegisterPerIP ratelimit.Limiter
	// PasswordChangePerUser counts wrong current passwords (a success refunds).
	PasswordChangePerUser ratelimit.Limiter
	// RefreshPerIP counts failed refreshes (a success refunds). It is not the
	// login budget: refreshes that fail for honest reasons (tabs racing one
	// token, a session that ended) behind one NAT must not stop logins there.
	RefreshPerIP ratelimit.Limiter
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// CanonicalEmail is the one form an email is stored and looked up in
// (emailaddr's canonical form), or a 400 naming the email and the rule it
// breaks. The contract's validator refuses such an address before any
// handler runs; this holds for the callers it does not see (create-admin).
func CanonicalEmail(email string) (string, error) {
	canonical, err := emailaddr.Canonical(email)
	var bad *emailaddr.Error
	if errors.As(err, &bad) {
		return "", apperr.InvalidField("The email address is not valid.", "email", bad.Rule.Message())
	}
	return canonical, err
}

var errBadCredentials = apperr.New(apperr.Unauthorized, "Invalid email or password.")

// Register creates an active user. clientIP is who is asking, for the
// registration budget ("" for the create-admin command, which has none).
func (s *Service) Register(ctx context.Context, clientIP, email, password, first, last string, admin bool) (UserRecord, error) {
	if len(password) < 12 {
		return UserRecord{}, apperr.New(apperr.Invalid, "The password must be at least 12 characters.")
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" || last == "" {
		return UserRecord{}, apperr.New(apperr.Invalid, "First and last name are required.")
	}
	email, err := CanonicalEmail(email)
	if err != nil {
		return UserRecord{}, err
	}
	// Every registration hashes (also for an email that turns out to be taken,
	// so a 409 costs the same as a 201): the budget is spent and never refunded.
	if _, err := spend(ctx, budgetKey{s.Budgets.RegisterPerIP, ratelimit.IPKey(clientIP)}); err != nil {
		return UserRecord{}, err
	}
	hash, err := s.hashInSlot(ctx, password)
	if err != nil {
		return UserRecord{}, err
	}
	return s.Repo.Create(
		ctx,
		NewUser{Email: email, PasswordHash: hash, FirstName: first, LastName: last, IsAdmin: admin},
		s.now(),
	)
}

// RegistrationsSpent says whether clientIP's registration budget is already
// spent, without spending: the HTTP side refuses such a request before it
// even reads the body, so a flood of refused registrations costs little.
func (s *Service) RegistrationsSpent(ctx context.Context, clientIP string) error {
	if s.Budgets.RegisterPerIP == nil {
		return nil
	}
	if d := s.Budgets.RegisterPerIP.Peek(ctx, ratelimit.IPKey(clientIP)); !d.Allowed {
		return &apperr.Error{Code: apperr.RateLimited, Message: "Too many attempts; try again later.", RetryAfter: d.RetryAfter}
	}
	return nil
}

// Authenticate checks credentials; email is in canonical form. Unknown
// email, wrong password and inactive user all fail the same way, after the
// same amount of hashing.
func (s *Service) Authenticate(ctx context.Context, email, password string) (UserRecord, error) {
	u, err := s.Repo.ByEmail(ctx, email)
	if apperr.CodeOf(err) == apperr.NotFound {
		_, _ = s.verifyInSlot(ctx, dummyHash, password)
		return UserRecord{}, errBadCredentials
	}
	if err != nil {
		return UserRecord{}, err
	}
	ok, err := s.verifyInSlot(ctx, u.PasswordHash, password)
	if err != nil {
		return UserRecord{}, fmt.Errorf("verify password of user %d: %w", u.ID, err)
	}
	if !ok || !u.IsActive {
		return UserRecord{}, errBadCredentials
	}
	return u, nil
}

// Session is a signed login or refresh: an access token and the refresh
// token that obtains the next pair.
type Session struct {
	Token              string
	ExpiresAt          time.Time
	PropertiesIncluded bool
	RefreshToken       string
}

// Login authenticates and signs a token carrying the user's property claims
// when the property service answers; when it does not, the token carries none.
// clientIP is who is asking, for the failed-login budgets.
func (s *Service) Login(ctx context.Context, clientIP, email, password string) (sess Session, err error) {
	if s.OnLogin != nil {
		defer func() { s.OnLogin(loginOutcome(err)) }()
	}
	// An address that has no canonical form names no account: 400, before
	// any budget is spent (nothing is hashed for it).
	email, err = CanonicalEmail(email)
	if err != nil {
		return Session{}, err
	}
	// Spent before any hashing, and refused even with the right password once
	// spent: otherwise the budget would only slow guessing, not stop it. The
	// email's budget is its canonical form's: look-alike spellings share it.
	spent, err := spend(ctx, budgetKey{s.Budgets.LoginPerIP, ratelimit.IPKey(clientIP)},
		budgetKey{s.Budgets.LoginPerEmail, "email:" + email})
	if err != nil {
		return Session{}, err
	}
	u, err := s.Authenticate(ctx, email, password)
	if apperr.CodeOf(err) != apperr.Unauthorized {
		spent.refund(ctx) // not a failed guess: a success, or the database failing
	}
	if err != nil {
		return Session{}, err
	}
	s.interleave(ctx, AfterPasswordCheck, u.ID)
	now := s.now()
	sid, refresh, err := s.startSession(ctx, u, now)
	if errors.Is(err, ErrCredentialsChanged) {
		// The password this login checked was replaced meanwhile (and the
		// change ended the user's sessions): it is a wrong password now.
		return Session{}, errBadCredentials
	}
	if err != nil {
		return Session{}, err
	}
	sess, err = s.sign(ctx, u, sid, now)
	sess.RefreshToken = refresh
	return sess, err
}

func loginOutcome(err error) string {
	switch {
	case err == nil:
		return "success"
	case apperr.CodeOf(err) == apperr.Unauthorized:
		return "bad_credentials"
	case apperr.CodeOf(err) == apperr.RateLimited:
		return "rate_limited"
	}
	return "error"
}

// sign makes an access token for u in session sid, with the user's property
// claims when the property service answers, and none when it does not.
func (s *Service) sign(ctx context.Context, u UserRecord, sid string, now time.Time) (Session, error) {
	claims := jwtauth.Claims{UserID: u.ID, Username: u.Email, IsAdmin: u.IsAdmin, SessionID: sid}
	if u.EmailCanonical {
		claims.Email = u.Email
	}
	claims.Subject = fmt.Sprint(u.ID)
	if s.NewSessionID != nil {
		claims.TraceID = s.NewSessionID()
	}
	props, err := s.Properties.UserProperties(ctx, u.ID, s.MaxPropertyClaims)
	if err != nil {
		if s.OnDegraded != nil {
			s.OnDegraded(ctx, u.ID, err)
		}
	} else {
		claims.PropertiesIncluded = true
		claims.Properties, claims.PropertiesTruncated = CapClaims(props.Claims, s.MaxPropertyClaims)
		claims.PropertiesTruncated = claims.PropertiesTruncated || props.Total > len(claims.Properties)
		// What the property service just told this service, with its own
		// credential and for this user, is what the profiles call later
		// answers from (profiles.go): never what a caller says.
		// A failure to record is no failure of the login: a refresh has
		// already spent its refresh token, so failing here would end the
		// session. What is not recorded only leaves the profiles call
		// answering this user from older rows, and refusing them once they
		// are older than AccessTTL: it fails closed.
		if err := s.Repo.SeeMemberships(ctx, u.ID, propertyIDs(props.Claims), now); err != nil && s.OnUnrecorded != nil {
			s.OnUnrecorded(ctx, u.ID, fmt.Errorf("record the memberships seen at login: %w", err))
		}
	}
	if s.OnClaims != nil {
		s.OnClaims(claims.PropertiesIncluded)
	}
	token, exp, err := s.Signer.Sign(claims, now)
	if err != nil {
		return Session{}, err
	}
	return Session{Token: token, ExpiresAt: exp, PropertiesIncluded: claims.PropertiesIncluded}, nil
}

// budgetKey is one budget an attempt spends.
type budgetKey struct {
	limiter ratelimit.Limiter // nil: not configured
	key     string
}

// spent is the units an attempt took, to give back if it was not a failure.
type spent []budgetKey

func (sp spent) refund(ctx context.Context) {
	for _, k := range sp {
		k.limiter.Refund(ctx, k.key)
	}
}

// spend takes one unit of each configured budget, in order. If one is
// exhausted it gives back what it took and answers RateLimited.
func spend(ctx context.Context, keys ...budgetKey) (spent, error) {
	var taken spent
	for _, k := range keys {
		if k.limiter == nil {
			continue
		}
		if d := k.limiter.Take(ctx, k.key); !d.Allowed {
			taken.refund(ctx)
			return nil, &apperr.Error{Code: apperr.RateLimited, Message: "Too many attempts; try again later.", RetryAfter: d.RetryAfter}
		}
		taken = append(taken, k)
	}
	return taken, nil
}

// CapClaims keeps at most max claims (all when max <= 0) and says whether it cut.
func CapClaims(props []jwtauth.PropertyClaim, max int) ([]jwtauth.PropertyClaim, bool) {
	if max > 0 && len(props) > max {
		return props[:max], true
	}
	return props, false
}

// ChangePassword replaces the password after checking the current one, and
// ends every session of the user (this one included), in one transaction
// that also bumps the credential epoch: a login that checked the old
// password and has not started its session yet cannot start it afterwards,
// and of two changes racing with the same current password only the first
// applies.
func (s *Service) ChangePassword(ctx context.Context, c *jwtauth.Claims, current, next string) error {
	if _, err := s.liveSession(ctx, c); err != nil {
		return err
	}
	userID := c.UserID
	u, err := s.Repo.ByID(ctx, userID)
	if apperr.CodeOf(err) == apperr.NotFound {
		return apperr.New(apperr.Unauthorized, "A valid bearer token is required.")
	}
	if err != nil {
		return err
	}
	// With a stolen access token, current_password could otherwise be guessed
	// without limit: each check spends the user's budget, a right one refunds.
	spent, err := spend(ctx, budgetKey{s.Budgets.PasswordChangePerUser, fmt.Sprint("user:", userID)})
	if err != nil {
		return err
	}
	ok, err := s.verifyInSlot(ctx, u.PasswordHash, current)
	if err != nil {
		spent.refund(ctx)
		return fmt.Errorf("verify password of user %d: %w", u.ID, err)
	}
	if !ok || !u.IsActive {
		return apperr.New(apperr.Unauthorized, "The current password is wrong.")
	}
	spent.refund(ctx)
	if len(next) < 12 {
		return apperr.New(apperr.Invalid, "The new password must be at least 12 characters.")
	}
	hash, err := s.hashInSlot(ctx, next)
	if err != nil {
		return err
	}
	err = s.Repo.ReplacePassword(ctx, userID, u.CredentialEpoch, hash, s.now())
	if errors.Is(err, ErrCredentialsChanged) {
		return apperr.New(apperr.Unauthorized, "The password was changed meanwhile; sign in again.")
	}
	return err
}

// Me returns the token's user; a token whose session ended, or a deleted or
// deactivated user's, is refused (activeUser, the rule the token exchange
// applies too).
func (s *Service) Me(ctx context.Context, c *jwtauth.Claims) (UserRecord, error) {
	return s.activeUser(ctx, c)
}
