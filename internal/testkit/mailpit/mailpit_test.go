package mailpit_test

import (
	"net/smtp"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/mailpit"
)

// The kit itself: what is sent to Mailpit's SMTP port is read back through
// its API, and a stopped Mailpit refuses mail and keeps what it had.
func TestMailpitReceivesMailAndRestarts(t *testing.T) {
	m := mailpit.Start(t)
	addr := strings.TrimPrefix(m.SMTPURL(), "smtp://")
	send := func(body string) error {
		return smtp.SendMail(addr, nil, "from@example.com", []string{"ada@example.com"},
			[]byte("To: ada@example.com\r\nSubject: kit\r\n\r\n"+body+"\r\n"))
	}
	if err := send("first"); err != nil {
		t.Fatal(err)
	}
	got := m.WaitFor("ada@example.com", 1)
	if len(got) != 1 || got[0].Subject != "kit" || !strings.Contains(got[0].Text, "first") {
		t.Fatalf("received: %+v", got)
	}
	if len(m.To("grace@example.com")) != 0 {
		t.Fatal("a search for another address found mail")
	}
	m.Stop()
	if err := send("while stopped"); err == nil {
		t.Fatal("a stopped Mailpit accepted mail")
	}
	m.Restart()
	if err := send("second"); err != nil {
		t.Fatal(err)
	}
	if got := m.WaitFor("ada@example.com", 2); !strings.Contains(got[0].Text, "second") || !strings.Contains(got[1].Text, "first") {
		t.Fatalf("after a restart: %+v", got)
	}
}
