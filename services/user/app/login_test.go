package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

type memRepo struct{ users map[string]UserRecord }

func (m *memRepo) Create(_ context.Context, u NewUser, now time.Time) (UserRecord, error) {
	r := UserRecord{ID: int64(len(m.users) + 1), Email: u.Email, PasswordHash: u.PasswordHash, IsActive: true, CreatedAt: now.Unix()}
	m.users[u.Email] = r
	return r, nil
}
func (m *memRepo) ByEmail(_ context.Context, email string) (UserRecord, error) {
	if u, ok := m.users[email]; ok {
		return u, nil
	}
	return UserRecord{}, apperr.New(apperr.NotFound, "no")
}
func (m *memRepo) ByID(context.Context, int64) (UserRecord, error)                        { return UserRecord{}, nil }
func (m *memRepo) ReplacePassword(context.Context, int64, int64, string, time.Time) error { return nil }
func (m *memRepo) UncheckedEmails(context.Context) ([]StoredEmail, error)                 { return nil, nil }
func (m *memRepo) SetCanonicalEmail(context.Context, int64, string, string) error         { return nil }
func (m *memRepo) Ping(context.Context) error                                             { return nil }
func (m *memRepo) SeeMemberships(context.Context, int64, []int64, time.Time) error        { return nil }
func (m *memRepo) SeenMember(context.Context, int64, int64, time.Time) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (m *memRepo) SeenMemberProfiles(context.Context, int64, []int64, time.Time) ([]Profile, error) {
	return nil, nil
}

// memSessions keeps session families in memory (the HTTP tests run the real
// adapters on both engines).
type memSessions struct{ families map[string]FamilyRecord }

func (m *memSessions) StartSession(_ context.Context, f FamilyRecord, _ RefreshRecord, _ int64) error {
	m.families[f.ID] = f
	return nil
}
func (m *memSessions) Rotate(context.Context, string, func(FamilyRecord) (RefreshRecord, error), time.Time) (Rotation, error) {
	return Rotation{}, apperr.New(apperr.NotFound, "no")
}
func (m *memSessions) Family(_ context.Context, id string) (FamilyRecord, error) {
	return m.families[id], nil
}
func (m *memSessions) RevokeFamily(context.Context, string, string, time.Time) error { return nil }
func (m *memSessions) RevokeUserSessions(context.Context, int64, string, time.Time) error {
	return nil
}
func (m *memSessions) SetActive(context.Context, int64, bool, time.Time) error { return nil }

type fixedProps struct {
	claims []jwtauth.PropertyClaim
	err    error
}

func (f fixedProps) UserProperties(context.Context, int64, int) (PropertyClaims, error) {
	return PropertyClaims{Claims: f.claims, Total: len(f.claims)}, f.err
}

type captureSigner struct{ last jwtauth.Claims }

func (c *captureSigner) Sign(cl jwtauth.Claims, now time.Time) (string, time.Time, error) {
	c.last = cl
	return "signed", now.Add(time.Hour), nil
}

func newService(props PropertySource) (*Service, *captureSigner) {
	sig := &captureSigner{}
	return &Service{Repo: &memRepo{users: map[string]UserRecord{}}, Sessions: &memSessions{families: map[string]FamilyRecord{}},
		Properties: props, Signer: sig, MaxPropertyClaims: 3}, sig
}

func TestInactiveUserCannotLogIn(t *testing.T) {
	s, _ := newService(fixedProps{})
	u, err := s.Register(context.Background(), "", "x@example.com", "long enough password", "X", "Y", false)
	if err != nil {
		t.Fatal(err)
	}
	u.IsActive = false
	s.Repo.(*memRepo).users[u.Email] = u
	_, err = s.Login(context.Background(), "192.0.2.1", "x@example.com", "long enough password")
	if apperr.CodeOf(err) != apperr.Unauthorized || err.Error() != errBadCredentials.Error() {
		t.Fatalf("inactive login: %v", err)
	}
}

func TestClaimsAreCappedAndTruncationSaid(t *testing.T) {
	many := make([]jwtauth.PropertyClaim, 5)
	for i := range many {
		many[i] = jwtauth.PropertyClaim{PropertyID: int64(i + 1), PropertyName: fmt.Sprint(i), AccessLevel: "owner"}
	}
	s, sig := newService(fixedProps{claims: many})
	if _, err := s.Register(context.Background(), "", "x@example.com", "long enough password", "X", "Y", false); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Login(context.Background(), "192.0.2.1", "X@example.com", "long enough password")
	if err != nil || !sess.PropertiesIncluded {
		t.Fatal(err)
	}
	if len(sig.last.Properties) != 3 || !sig.last.PropertiesTruncated || sig.last.Properties[2].PropertyID != 3 {
		t.Fatalf("claims %+v truncated %v", sig.last.Properties, sig.last.PropertiesTruncated)
	}
}

func TestLoginDegradesWithoutPropertyService(t *testing.T) {
	s, sig := newService(fixedProps{err: errors.New("connection refused")})
	var why error
	s.OnDegraded = func(_ context.Context, _ int64, err error) { why = err }
	if _, err := s.Register(context.Background(), "", "x@example.com", "long enough password", "X", "Y", false); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Login(context.Background(), "192.0.2.1", "x@example.com", "long enough password")
	if err != nil || sess.PropertiesIncluded || sig.last.Properties != nil || why == nil {
		t.Fatalf("degraded login: %+v %v %v", sess, err, why)
	}
}
