package property_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/mailpit"
	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/common/logging"
	"github.com/jeeves4service/jeeves4service/services/property"
	"github.com/jeeves4service/jeeves4service/services/property/adapters"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// Issue 34: how invitations are mailed is configuration a careful operator
// sets; what would leak a secret or a password is refused at start (exit 2,
// naming the variable, never repeating a value that may hold a password).
func TestMailSettingsAreRefusedWhenUnsafe(t *testing.T) {
	base := map[string]string{"INTERNAL_SERVICE_TOKEN": goodToken, "PROPERTY_SERVICE_TOKEN": ownToken}
	smtp := map[string]string{"SMTP_URL": "smtp://mail.example.com", "SMTP_FROM": "Jeeves <no-reply@example.com>",
		"INVITATION_URL": "https://app.example.com/invitations"}
	with := func(extra ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range append([]map[string]string{base}, extra...) {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		vars map[string]string
		want string // the variable named; "" accepted
	}{
		{"no mail server", with(), ""},
		{"make run's log", with(map[string]string{"MAIL_TO_LOG": "on"}), ""},
		{"smtp", with(smtp), ""},
		{"smtps with a password", with(smtp, map[string]string{"SMTP_URL": "smtps://u:s3cret-pw@mail.example.com"}), ""},
		{"starttls with a password", with(smtp, map[string]string{"SMTP_URL": "smtp://u:s3cret-pw@mail.example.com:587"}), ""},
		{"the log beside a server", with(smtp, map[string]string{"MAIL_TO_LOG": "on"}), "MAIL_TO_LOG"},
		{"no sender", with(smtp, map[string]string{"SMTP_FROM": ""}), "SMTP_FROM"},
		{"a bad sender", with(smtp, map[string]string{"SMTP_FROM": "not an address"}), "SMTP_FROM"},
		{"no page", with(smtp, map[string]string{"INVITATION_URL": ""}), "INVITATION_URL"},
		{"a page with a fragment", with(smtp, map[string]string{"INVITATION_URL": "https://app.example.com/#x"}), "INVITATION_URL"},
		{"a relative page", with(smtp, map[string]string{"INVITATION_URL": "/invitations"}), "INVITATION_URL"},
		{"a password in clear", with(smtp, map[string]string{"SMTP_URL": "smtp://u:s3cret-pw@mail.example.com",
			"SMTP_TLS": "opportunistic"}), "SMTP_TLS"},
		{"a password without TLS", with(smtp, map[string]string{"SMTP_URL": "smtp://u:s3cret-pw@mail.example.com",
			"SMTP_TLS": "none"}), "SMTP_TLS"},
		{"an unknown policy", with(smtp, map[string]string{"SMTP_TLS": "sometimes"}), "SMTP_TLS"},
		{"another scheme", with(smtp, map[string]string{"SMTP_URL": "http://u:s3cret-pw@mail.example.com"}), "SMTP_URL"},
		{"a bad port", with(smtp, map[string]string{"SMTP_URL": "smtp://u:s3cret-pw@mail.example.com:99999"}), "SMTP_URL"},
		{"a path", with(smtp, map[string]string{"SMTP_URL": "smtp://u:s3cret-pw@mail.example.com/x"}), "SMTP_URL"},
		{"no timeout", with(smtp, map[string]string{"SMTP_TIMEOUT": "0s"}), "SMTP_TIMEOUT"},
	} {
		_, err := property.LoadConfig(func(k string) string { return c.vars[k] })
		var cerr *config.Error
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (!errors.As(err, &cerr) || cerr.Var != c.want):
			t.Errorf("%s: %v, want refused naming %s", c.name, err, c.want)
		case err != nil && strings.Contains(err.Error(), "s3cret-pw"):
			t.Errorf("%s: the error repeats the password: %v", c.name, err)
		}
	}
}

// The SMTP mailer against a real SMTP server (Mailpit): the mail arrives,
// addressed to the invitee, from SMTP_FROM, with the link whose fragment
// holds the invitation's id and secret; a server that is down is an error
// (the invitation stays unsent) whose text holds no secret.
func TestSMTPMailerSendsThroughMailpit(t *testing.T) {
	m := mailpit.Start(t)
	cfg, err := property.LoadConfig(func(k string) string {
		return map[string]string{"INTERNAL_SERVICE_TOKEN": goodToken, "PROPERTY_SERVICE_TOKEN": ownToken, "SMTP_URL": m.SMTPURL(),
			"SMTP_TLS": "none", "SMTP_FROM": "Jeeves <no-reply@example.com>", "SMTP_TIMEOUT": "2s",
			"INVITATION_URL": "https://app.example.com/invitations"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	mailer, err := adapters.NewMailer(cfg.Mail, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	inv := app.InvitationMail{InvitationID: 7, To: "ada@example.com", PropertyName: "Seaside cottage", AccessLevel: "member",
		ExpiresAt: time.Now().Add(24 * time.Hour), Secret: "s3cret-0123456789abcdefghijklmnopqrstuvwxyz"}
	if err := mailer.SendInvitation(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	got := m.WaitFor("ada@example.com", 1)[0]
	link := "https://app.example.com/invitations#invitation=7&secret=" + inv.Secret
	if got.From.Address != "no-reply@example.com" || !strings.Contains(got.Subject, "Seaside cottage") || !strings.Contains(got.Text, link) {
		t.Fatalf("the mail: %+v", got)
	}

	m.Stop()
	err = mailer.SendInvitation(context.Background(), inv)
	if err == nil {
		t.Fatal("a mail to a stopped server was sent")
	}
	if strings.Contains(err.Error(), inv.Secret) || strings.Contains(logs.String(), inv.Secret) {
		t.Fatalf("the secret is in the error or the log: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "invitation mail not sent") {
		t.Fatalf("no WARN for the mail not sent:\n%s", logs.String())
	}
}

// MAIL_TO_LOG=on (make run) writes the secret to the log, and says at start
// that it does; without SMTP_URL and MAIL_TO_LOG nothing is sent and the
// start-up WARN says invitations stay unsent.
func TestMailerWithoutServer(t *testing.T) {
	inv := app.InvitationMail{InvitationID: 3, To: "ada@example.com", Secret: "the-secret"}
	var logs strings.Builder
	// The services' own logger, whose redaction hides attributes named secret.
	serviceLog, err := logging.New(func(k string) string { return map[string]string{"LOG_FORMAT": "text"}[k] }, &logs,
		"property-service")
	if err != nil {
		t.Fatal(err)
	}
	toLog, err := adapters.NewMailer(adapters.MailSettings{ToLog: true}, serviceLog)
	if err != nil {
		t.Fatal(err)
	}
	err = toLog.SendInvitation(context.Background(), inv)
	if err != nil || !strings.Contains(logs.String(), "invitation_secret=the-secret") || !strings.Contains(logs.String(), "MAIL_TO_LOG=on") {
		t.Fatalf("MAIL_TO_LOG: %v\n%s", err, logs.String())
	}
	logs.Reset()
	off, err := adapters.NewMailer(adapters.MailSettings{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := off.SendInvitation(context.Background(), inv); !errors.Is(err, adapters.ErrMailOff) ||
		!strings.Contains(logs.String(), "SMTP_URL is not set") || strings.Contains(logs.String(), "the-secret") {
		t.Fatalf("no mail server: %v\n%s", err, logs.String())
	}
}
