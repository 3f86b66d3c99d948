// Package spire holds the real-SPIRE test (make spire, build tag spire): a
// SPIRE server and agent on loopback and Unix sockets, both services in
// INTERNAL_AUTH=spiffe mode against the agent's Workload API, the login
// story across at least one rotation of both services' SVIDs.
package spire
