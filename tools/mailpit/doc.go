// Package mailpit pins Mailpit (v1.33.1) as a Go tool: a real SMTP server with
// an HTTP API, which the mail tests send invitations through and read them back
// from (make mail). It is a module of its own so that Mailpit's dependencies
// never touch the services' go.mod; nothing here is shipped.
package mailpit
