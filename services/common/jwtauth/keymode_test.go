package jwtauth

import (
	"io/fs"
	"testing"
)

// The signing key's permissions: private to its owner, or, when root owns
// it (a Kubernetes Secret volume with fsGroup), readable by one group too,
// PostgreSQL's rule for its TLS key. Never by others, never writable by the group.
func TestSigningKeyModeRule(t *testing.T) {
	const root, self, other = 0, 65532, 1000
	for _, c := range []struct {
		mode      fs.FileMode
		owner, as int
		ok        bool
		why       string
	}{
		{0o600, self, self, true, "private to the service's user"},
		{0o400, self, self, true, "read-only, private"},
		{0o640, self, self, false, "group-readable and owned by the service's user"},
		{0o640, root, self, true, "a Secret volume: root-owned, group (fsGroup) may read"},
		{0o440, root, self, true, "a Secret volume, read-only"},
		{0o644, root, self, false, "world-readable"},
		{0o604, root, self, false, "readable by others"},
		{0o660, root, self, false, "group-writable"},
		{0o600, other, self, false, "owned by someone else"},
		{0o600, root, root, true, "root's own key"},
	} {
		err := checkKeyMode("key.pem", c.mode, c.owner, c.as)
		if (err == nil) != c.ok {
			t.Errorf("mode %o owner %d as %d (%s): err %v, want ok=%v", c.mode, c.owner, c.as, c.why, err, c.ok)
		}
	}
}
