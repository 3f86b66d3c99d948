// Package outbox is an app.Mailer for in-process tests: it keeps every
// invitation mail instead of sending it, so a test can accept with the
// secret only the invitee's mailbox would have. The real SMTP path is tested
// against Mailpit (internal/testkit/mailpit).
package outbox

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// Outbox keeps the invitation mails sent; while Down is set it refuses
// them as a mail server that is down would.
type Outbox struct {
	mu    sync.Mutex
	mails []app.InvitationMail
	down  bool
}

// ErrDown is a send while the outbox is down.
var ErrDown = errors.New("outbox: the mail server is down")

// SendInvitation implements app.Mailer.
func (o *Outbox) SendInvitation(_ context.Context, m app.InvitationMail) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		return ErrDown
	}
	o.mails = append(o.mails, m)
	return nil
}

// SetDown makes the outbox refuse mail (true) or take it again (false).
func (o *Outbox) SetDown(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
}

// Count is how many mails were sent to addr.
func (o *Outbox) Count(addr string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, m := range o.mails {
		if m.To == addr {
			n++
		}
	}
	return n
}

// Last is the last mail of invitation id; the test fails without one.
func (o *Outbox) Last(t testing.TB, id int64) app.InvitationMail {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.mails) - 1; i >= 0; i-- {
		if o.mails[i].InvitationID == id {
			return o.mails[i]
		}
	}
	t.Fatalf("outbox: no mail of invitation %d", id)
	return app.InvitationMail{}
}

// Find is the last mail of invitation id, if there is one.
func (o *Outbox) Find(id int64) (app.InvitationMail, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.mails) - 1; i >= 0; i-- {
		if o.mails[i].InvitationID == id {
			return o.mails[i], true
		}
	}
	return app.InvitationMail{}, false
}

// Secret is the secret of the last mail of invitation id.
func (o *Outbox) Secret(t testing.TB, id int64) string {
	t.Helper()
	return o.Last(t, id).Secret
}
