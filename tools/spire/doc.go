// Package spire pins SPIRE's server and agent (v1.13.3) as Go tools for the
// real-SPIRE test (make spire). It is a module of its own so that SPIRE's
// dependencies never touch the services' go.mod; nothing here is shipped.
package spire
