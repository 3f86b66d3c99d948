package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/user/adapters"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// noProperties answers every login without claims (the fence does not care).
type noProperties struct{}

func (noProperties) UserProperties(context.Context, int64, int) (app.PropertyClaims, error) {
	return app.PropertyClaims{}, nil
}

// recordingSigner hands out numbered tokens and remembers each one's claims.
type recordingSigner struct {
	mu     sync.Mutex
	claims map[string]jwtauth.Claims
}

func (r *recordingSigner) Sign(c jwtauth.Claims, now time.Time) (string, time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	token := strconv.Itoa(len(r.claims) + 1)
	r.claims[token] = c
	return token, now.Add(time.Hour), nil
}

func (r *recordingSigner) of(token string) *jwtauth.Claims {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.claims[token]
	return &c
}

// changeWatch wraps the store and says when a password change reaches the
// database (its hash is computed by then), so a test can tell whether the
// change completed while another request was paused.
type changeWatch struct {
	app.Store
	entered chan struct{}
}

func (w *changeWatch) ReplacePassword(ctx context.Context, id, epoch int64, hash string, now time.Time) error {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	return w.Store.ReplacePassword(ctx, id, epoch, hash, now)
}

type fenceEnv struct {
	svc    *app.Service
	conn   *sql.DB
	signer *recordingSigner
	watch  *changeWatch
}

func newFenceEnv(t *testing.T, url string) *fenceEnv {
	t.Helper()
	store, conn, err := adapters.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	watch := &changeWatch{Store: store, entered: make(chan struct{}, 1)}
	signer := &recordingSigner{claims: map[string]jwtauth.Claims{}}
	return &fenceEnv{svc: &app.Service{Repo: watch, Sessions: watch, Properties: noProperties{}, Signer: signer},
		conn: conn, signer: signer, watch: watch}
}

// liveSessions counts the user's session families that are not revoked.
func (e *fenceEnv) liveSessions(t *testing.T, userID int64) int {
	t.Helper()
	var n int
	q := fmt.Sprintf("SELECT COUNT(*) FROM session_families WHERE user_id = %d AND revoked_at IS NULL", userID)
	if err := e.conn.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const fenceRounds = 50

var fencePasswords = [2]string{"the first long passphrase", "the second long passphrase"}

// Issue 25, item 1: a login reads the hash, spends ~50 ms in argon2id, then
// creates its session; a password change that lands in between used to be
// outrun (it revoked the sessions that existed, then the login made one with
// the old password). Here three logins with the old password are held right
// after their password check while the owner changes it: in even rounds the
// change completes inside the window, in odd rounds the logins are released
// while the change runs. No session may outlive the change.
func TestPasswordChangeFencesLoginsInFlight(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			e := newFenceEnv(t, eng.NewURL(t))
			ctx := context.Background()
			u, err := e.svc.Register(ctx, "", "owner@example.com", fencePasswords[0], "O", "W", false)
			if err != nil {
				t.Fatal(err)
			}
			survived, roundsLost, admitted := 0, 0, 0
			for round := 0; round < fenceRounds; round++ {
				old, next := fencePasswords[round%2], fencePasswords[(round+1)%2]
				e.svc.Interleave = nil
				owner, err := e.svc.Login(ctx, "192.0.2.1", "owner@example.com", old)
				if err != nil {
					t.Fatalf("round %d: owner's login: %v", round, err)
				}
				arrived, release := make(chan struct{}, 3), make(chan struct{})
				e.svc.Interleave = func(_ context.Context, at app.Point, userID int64) {
					if at == app.AfterPasswordCheck && userID == u.ID {
						arrived <- struct{}{}
						<-release
					}
				}
				results := make(chan error, 3)
				for i := 0; i < 3; i++ {
					go func() {
						_, err := e.svc.Login(ctx, fmt.Sprint("198.51.100.", i+1), "owner@example.com", old)
						results <- err
					}()
				}
				for i := 0; i < 3; i++ {
					<-arrived
				}
				changed := make(chan error, 1)
				go func() { changed <- e.svc.ChangePassword(ctx, e.signer.of(owner.Token), old, next) }()
				if round%2 == 0 {
					if err := <-changed; err != nil {
						t.Fatalf("round %d: change password: %v", round, err)
					}
					close(release)
				} else {
					close(release)
					if err := <-changed; err != nil {
						t.Fatalf("round %d: change password: %v", round, err)
					}
				}
				for i := 0; i < 3; i++ {
					err := <-results
					if err != nil && apperr.CodeOf(err) != apperr.Unauthorized {
						t.Fatalf("round %d: a login racing the change: %v, want success or 401", round, err)
					}
					if err == nil && round%2 == 0 {
						t.Errorf("round %d: a login checked against the old password succeeded after the change completed", round)
					}
					if err == nil {
						admitted++ // it passed the fence before the change, which then ended its session
					}
				}
				if n := e.liveSessions(t, u.ID); n > 0 {
					survived += n
					roundsLost++
				}
			}
			t.Logf("%d rounds: %d logins passed the fence before the change took it", fenceRounds, admitted)
			if survived > 0 {
				t.Fatalf("%d sessions survived the password change in %d of %d rounds", survived, roundsLost, fenceRounds)
			}
		})
	}
}

// Issue 25, item 1, refresh: a refresh that found its session live must not
// commit after a password change that ended the session has completed. The
// refresh is held inside its rotation while the change runs; the change may
// complete only after the rotation (it then ends the session it made).
func TestPasswordChangeFencesRefreshesInFlight(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			e := newFenceEnv(t, eng.NewURL(t))
			ctx := context.Background()
			u, err := e.svc.Register(ctx, "", "owner@example.com", fencePasswords[0], "O", "W", false)
			if err != nil {
				t.Fatal(err)
			}
			outrun, survived := 0, 0
			for round := 0; round < fenceRounds; round++ {
				old, next := fencePasswords[round%2], fencePasswords[(round+1)%2]
				e.svc.Interleave = nil
				owner, err := e.svc.Login(ctx, "192.0.2.1", "owner@example.com", old)
				if err != nil {
					t.Fatalf("round %d: login: %v", round, err)
				}
				changed := make(chan error, 1)
				completedInside := false
				e.svc.Interleave = func(_ context.Context, at app.Point, userID int64) {
					if at != app.InRotation || userID != u.ID {
						return
					}
					go func() { changed <- e.svc.ChangePassword(ctx, e.signer.of(owner.Token), old, next) }()
					<-e.watch.entered // the change has hashed and reached the database
					select {
					case err := <-changed:
						completedInside = true
						changed <- err
					case <-time.After(100 * time.Millisecond): // held by the rotation's transaction
					}
				}
				_, refreshErr := e.svc.Refresh(ctx, "192.0.2.1", owner.RefreshToken, nil)
				if err := <-changed; err != nil {
					t.Fatalf("round %d: change password: %v", round, err)
				}
				if refreshErr == nil && completedInside {
					outrun++
				}
				if refreshErr != nil && apperr.CodeOf(refreshErr) != apperr.Unauthorized {
					t.Fatalf("round %d: refresh: %v", round, refreshErr)
				}
				survived += e.liveSessions(t, u.ID)
			}
			if outrun > 0 || survived > 0 {
				t.Fatalf("%d of %d refreshes issued tokens after the password change that ended their session had completed; "+
					"%d sessions survived", outrun, fenceRounds, survived)
			}
		})
	}
}
