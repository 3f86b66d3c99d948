package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// MailSettings say how invitation mail leaves the property service
// (docs/operations.md: SMTP_URL, SMTP_FROM, SMTP_TLS, SMTP_TIMEOUT,
// INVITATION_URL, MAIL_TO_LOG).
type MailSettings struct {
	// SMTP is the server (smtp:// with STARTTLS as TLS says, smtps:// with
	// TLS from the first byte), its user and password in the URL's userinfo;
	// nil: no mail server.
	SMTP *url.URL
	// From is the sender's address.
	From string
	// TLS is the STARTTLS policy of an smtp:// server.
	TLS TLSPolicy
	// Timeout bounds one mail: connection, TLS, authentication and sending.
	Timeout time.Duration
	// InvitationURL is the page of the application that accepts an
	// invitation; a mail's link is this URL with the invitation's id and
	// secret in the fragment, which browsers never send to a server (so the
	// secret stays out of every access log on the way).
	InvitationURL string
	// ToLog writes each invitation's link, secret included, to the log
	// instead of sending it: make run's default (tools/devrun), never a
	// service's own: whoever reads that log can accept every invitation.
	ToLog bool
}

// TLSPolicy is SMTP_TLS.
type TLSPolicy string

// The STARTTLS policies of an smtp:// server.
const (
	TLSMandatory     TLSPolicy = "mandatory"     // STARTTLS or no mail (the default)
	TLSOpportunistic TLSPolicy = "opportunistic" // STARTTLS when offered, plain text otherwise
	TLSNone          TLSPolicy = "none"          // never: only for a server on the same host (Mailpit in the tests)
)

// ParseTLSPolicy reads SMTP_TLS.
func ParseTLSPolicy(v string) (TLSPolicy, error) {
	switch p := TLSPolicy(v); p {
	case TLSMandatory, TLSOpportunistic, TLSNone:
		return p, nil
	}
	return "", fmt.Errorf("must be mandatory, opportunistic or none, got %q", v)
}

// ParseSMTPURL reads SMTP_URL: smtp://[user:password@]host[:port] (port 587
// by default) or smtps://... (465). Its errors never repeat the value: it
// may hold a password.
func ParseSMTPURL(v string) (*url.URL, error) {
	if v == "" {
		return nil, nil
	}
	shape := errors.New("must be smtp://[user:password@]host[:port] or smtps://[user:password@]host[:port]")
	u, err := url.Parse(v)
	if err != nil || u.Hostname() == "" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, shape
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" {
		return nil, shape
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, shape
		}
	}
	return u, nil
}

// ParseInvitationURL reads INVITATION_URL: an absolute http(s) URL without a
// fragment (the link's fragment is the invitation's).
func ParseInvitationURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || strings.Contains(v, "#") {
		return "", errors.New("must be an absolute https:// (or http://) URL without a #fragment: the page that accepts an invitation")
	}
	return v, nil
}

// Link is the invitation's link: the accepting page with the invitation's
// id and secret in the fragment ("" without a page).
func Link(page string, m app.InvitationMail) string {
	if page == "" {
		return ""
	}
	return page + "#invitation=" + strconv.FormatInt(m.InvitationID, 10) + "&secret=" + m.Secret
}

// NewMailer is the mailer of s: SMTP, the log (make run), or none, which
// sends nothing (every invitation stays unsent until SMTP_URL is set and an
// owner sends it again).
func NewMailer(s MailSettings, log *slog.Logger) (app.Mailer, error) {
	switch {
	case s.SMTP != nil:
		return NewSMTPMailer(s, log)
	case s.ToLog:
		log.Warn("MAIL_TO_LOG=on: invitations are not mailed; each one's link and secret are written to this log, " +
			"and whoever reads it can accept them (make run's default, never for a shared deployment)")
		return &logMailer{page: s.InvitationURL, log: log}, nil
	}
	log.Warn("SMTP_URL is not set: invitations are kept unsent and cannot be accepted until an owner sends them again " +
		"with SMTP_URL set")
	return offMailer{}, nil
}

// ErrMailOff is a send without a mail server.
var ErrMailOff = errors.New("no mail server: SMTP_URL is not set")

type offMailer struct{}

func (offMailer) SendInvitation(context.Context, app.InvitationMail) error { return ErrMailOff }

// logMailer is MAIL_TO_LOG=on.
type logMailer struct {
	page string
	log  *slog.Logger
}

// SendInvitation writes the mail's secret under invitation_secret: the log's
// redaction hides any attribute named secret (defence in depth against a
// secret logged by mistake), and this one is logged on purpose, because
// MAIL_TO_LOG=on asked for it.
func (l *logMailer) SendInvitation(ctx context.Context, m app.InvitationMail) error {
	attrs := []any{"invitation_id", m.InvitationID, "to", m.To, "property", m.PropertyName, "invitation_secret", m.Secret}
	if link := Link(l.page, m); link != "" {
		attrs = append(attrs, "link", link)
	}
	l.log.InfoContext(ctx, "invitation mail (MAIL_TO_LOG=on: written here, not sent)", attrs...)
	return nil
}

// SMTPMailer sends invitations through an SMTP server with go-mail, one
// connection per mail (a new client each time: nothing is shared between
// requests, and a slow server holds only its own request).
type SMTPMailer struct {
	host    string
	opts    []mail.Option
	timeout time.Duration
	from    string
	page    string
	log     *slog.Logger
}

// NewSMTPMailer checks s and builds the mailer; it connects to nothing yet.
func NewSMTPMailer(s MailSettings, log *slog.Logger) (*SMTPMailer, error) {
	if s.SMTP == nil || s.From == "" || s.InvitationURL == "" {
		return nil, errors.New("smtp mailer: SMTP_URL, SMTP_FROM and INVITATION_URL are all needed")
	}
	port, policy := 587, mail.TLSMandatory
	opts := []mail.Option{mail.WithTimeout(s.Timeout)}
	switch s.TLS {
	case TLSOpportunistic:
		policy = mail.TLSOpportunistic
	case TLSNone:
		policy = mail.NoTLS
	}
	if s.SMTP.Scheme == "smtps" {
		port = 465
		opts = append(opts, mail.WithSSL())
	}
	if p := s.SMTP.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, errors.New("smtp mailer: SMTP_URL's port is not a number")
		}
		port = n
	}
	opts = append(opts, mail.WithPort(port), mail.WithTLSPolicy(policy))
	if user := s.SMTP.User; user != nil {
		password, _ := user.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(user.Username()),
			mail.WithPassword(password))
	}
	m := &SMTPMailer{host: s.SMTP.Hostname(), opts: opts, timeout: s.Timeout, from: s.From, page: s.InvitationURL, log: log}
	if _, err := mail.NewClient(m.host, m.opts...); err != nil {
		return nil, fmt.Errorf("smtp mailer: %w", err)
	}
	return m, nil
}

// SendInvitation implements app.Mailer. A failure is logged (without the
// secret: the message is built here, and go-mail's errors name the server's
// answer and the recipients, never the body) and returned.
func (m *SMTPMailer) SendInvitation(ctx context.Context, inv app.InvitationMail) error {
	err := m.send(ctx, inv)
	if err != nil {
		m.log.WarnContext(ctx, "invitation mail not sent: the invitation is kept unsent; an owner can send it again",
			"invitation_id", inv.InvitationID, "error", err.Error())
	}
	return err
}

func (m *SMTPMailer) send(ctx context.Context, inv app.InvitationMail) error {
	msg := mail.NewMsg()
	if err := msg.From(m.from); err != nil {
		return fmt.Errorf("invitation mail: from address: %w", err)
	}
	if err := msg.To(inv.To); err != nil {
		return fmt.Errorf("invitation mail: recipient address: %w", err)
	}
	msg.Subject("You are invited to share " + inv.PropertyName)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(mail.TypeTextPlain, InvitationText(m.page, inv))
	c, err := mail.NewClient(m.host, m.opts...)
	if err != nil {
		return fmt.Errorf("invitation mail: client: %w", err)
	}
	// go-mail's timeout bounds each step; this bounds the whole mail, so a
	// server that answers slowly at every step still costs SMTP_TIMEOUT.
	if m.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.timeout)
		defer cancel()
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("invitation mail to the SMTP server: %w", err)
	}
	return nil
}

// InvitationText is the mail's body: the link, and the id and secret for a
// client of the API. The property's name is the inviter's words.
func InvitationText(page string, inv app.InvitationMail) string {
	return fmt.Sprintf(`You are invited to share the property %q as %s.

To accept, sign in with this email address (%s) and open:

%s

Or, with the API: POST /api/invitations/%d/accept with the body {"secret": "%s"}

The invitation expires on %s. The link works once: whoever has it and can
sign in as %s can accept. If you did not expect this mail, ignore it.
`, inv.PropertyName, inv.AccessLevel, inv.To, Link(page, inv), inv.InvitationID, inv.Secret,
		inv.ExpiresAt.UTC().Format(time.RFC1123), inv.To)
}
