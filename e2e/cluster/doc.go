// Package cluster holds the replica test (make cluster-test, build tag
// cluster): the shipped binaries, two of each, behind HAProxy on one
// PostgreSQL and one Redis.
package cluster
