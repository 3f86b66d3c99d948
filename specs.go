// Package jeeves4service embeds the files that are the system's source of truth:
// the two OpenAPI contracts and the SQL migrations. Services load the contracts
// from here (to validate requests and serve /openapi.yaml) and apply the
// migrations at start, so a binary never depends on its working directory.
package jeeves4service

import "embed"

// PublicSpec is openapi-public.yaml, byte for byte.
//
//go:embed openapi-public.yaml
var PublicSpec []byte

// InternalSpec is openapi-internal.yaml, byte for byte.
//
//go:embed openapi-internal.yaml
var InternalSpec []byte

// Migrations holds sql/<engine>/<service>/migrations/*.sql.
//
//go:embed sql/sqlite/*/migrations/*.sql sql/postgres/*/migrations/*.sql
var Migrations embed.FS

// PublicDocs and InternalDocs are the self-contained Redoc pages `make docs`
// builds from the contracts (committed, like gen/, so a build needs only Go),
// gzip-compressed: a quarter of the size in each binary and on the wire.
var (
	//go:embed docs/site/public.html.gz
	PublicDocs []byte
	//go:embed docs/site/internal.html.gz
	InternalDocs []byte
)
