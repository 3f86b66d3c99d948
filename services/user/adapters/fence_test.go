package adapters_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/user/adapters"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// heldOff is how long a statement that must wait is watched: it must not
// finish while the other transaction is open.
const heldOff = 300 * time.Millisecond

func openStore(t *testing.T, eng testenv.Engine) (app.Store, *sql.DB, app.UserRecord) {
	t.Helper()
	ctx := context.Background()
	store, conn, err := adapters.Open(ctx, eng.NewURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u, err := store.Create(ctx, app.NewUser{Email: "owner@example.com", PasswordHash: "not checked here", FirstName: "O",
		LastName: "W"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return store, conn, u
}

func family(id string, userID int64) (app.FamilyRecord, app.RefreshRecord) {
	now := time.Now()
	f := app.FamilyRecord{ID: id, UserID: userID, CreatedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}
	return f, app.RefreshRecord{Hash: "digest-of-" + id, FamilyID: id, UserID: userID, ExpiresAt: f.ExpiresAt}
}

// waitsFor runs op while tx is open, checks it does not finish before tx
// commits, commits, and returns op's result.
func waitsFor(t *testing.T, tx *sql.Tx, what string, op func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		_ = tx.Rollback()
		t.Fatalf("%s finished (%v) while the other transaction was open", what, err)
	case <-time.After(heldOff):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// The fence in the database, on both engines. A password change that has
// bumped the credential epoch but not committed yet: under PostgreSQL's READ
// COMMITTED a plain read would still see the old epoch and let a session
// start, which the change (having ended the sessions it could see) would
// miss. The session start must wait for the change and then refuse.
func TestSessionStartWaitsForAnUncommittedPasswordChange(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			store, conn, u := openStore(t, eng)
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(
				"UPDATE users SET password_hash = 'new', credential_epoch = credential_epoch + 1 WHERE id = %d", u.ID)); err != nil {
				t.Fatal(err)
			}
			f, first := family("late-login", u.ID)
			err = waitsFor(t, tx, "a session start", func() error { return store.StartSession(ctx, f, first, u.CredentialEpoch) })
			if !errors.Is(err, app.ErrCredentialsChanged) {
				t.Fatalf("session start after the change committed: %v, want ErrCredentialsChanged", err)
			}
			if _, err := store.Family(ctx, f.ID); err == nil {
				t.Fatal("the refused session was stored")
			}
		})
	}
}

// The other order: a session start that holds the user's row (it passed the
// fence, its transaction is open) makes the password change wait, and the
// change then ends that session too.
func TestPasswordChangeWaitsForASessionStartThatPassedTheFence(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			store, conn, u := openStore(t, eng)
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			// What StartSession runs, with its transaction held open.
			now := time.Now().Unix()
			for _, q := range []string{
				fmt.Sprintf("UPDATE users SET credential_epoch = credential_epoch WHERE id = %d AND credential_epoch = %d AND is_active",
					u.ID, u.CredentialEpoch),
				fmt.Sprintf("INSERT INTO session_families (id, user_id, created_at, expires_at) VALUES ('early-login', %d, %d, %d)",
					u.ID, now, now+3600),
			} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			err = waitsFor(t, tx, "a password change", func() error {
				return store.ReplacePassword(ctx, u.ID, u.CredentialEpoch, "new", time.Now())
			})
			if err != nil {
				t.Fatal(err)
			}
			if f, err := store.Family(ctx, "early-login"); err != nil || f.RevokedAt == 0 {
				t.Fatalf("the session that passed the fence before the change: %+v %v, want revoked", f, err)
			}
			// And the epoch moved: a second change from the same old epoch is refused.
			if err := store.ReplacePassword(ctx, u.ID, u.CredentialEpoch, "newer", time.Now()); !errors.Is(err, app.ErrCredentialsChanged) {
				t.Fatalf("a change from a stale epoch: %v", err)
			}
		})
	}
}

// A refresh whose session is being revoked (uncommitted) waits for the
// revocation, then sees it: nothing is issued.
func TestRotationWaitsForAnUncommittedRevocation(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			store, conn, u := openStore(t, eng)
			f, first := family("refreshing", u.ID)
			if err := store.StartSession(ctx, f, first, u.CredentialEpoch); err != nil {
				t.Fatal(err)
			}
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(
				"UPDATE session_families SET revoked_at = %d, revoked_reason = 'password change' WHERE user_id = %d",
				time.Now().Unix(), u.ID)); err != nil {
				t.Fatal(err)
			}
			issued := false
			var rot app.Rotation
			err = waitsFor(t, tx, "a rotation", func() error {
				var err error
				rot, err = store.Rotate(ctx, first.Hash, func(f app.FamilyRecord) (app.RefreshRecord, error) {
					issued = true
					return app.RefreshRecord{Hash: "next", FamilyID: f.ID, UserID: f.UserID, ExpiresAt: f.ExpiresAt}, nil
				}, time.Now())
				return err
			})
			if err != nil || issued || rot.Family.RevokedAt == 0 {
				t.Fatalf("rotation after the revocation committed: issued %v, family %+v, %v", issued, rot.Family, err)
			}
		})
	}
}
