package app

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAccessRule(t *testing.T) {
	member := func(level string) *MemberRecord { return &MemberRecord{AccessLevel: level} }
	cases := []struct {
		name      string
		m         *MemberRecord
		admin     bool
		wantLevel string
		wantOK    bool
	}{
		{"owner", member(Owner), false, Owner, true},
		{"guest", member(Guest), false, Guest, true},
		{"admin owner keeps owner", member(Owner), true, Owner, true},
		{"admin without membership reads as guest", nil, true, Guest, true},
		{"stranger", nil, false, "", false},
	}
	for _, c := range cases {
		level, ok := AccessOf(c.m, Caller{UserID: 1, IsAdmin: c.admin})
		if level != c.wantLevel || ok != c.wantOK {
			t.Fatalf("%s: got %q %v", c.name, level, ok)
		}
	}
}

func TestOnlyOwnersChange(t *testing.T) {
	for level, want := range map[string]bool{Owner: true, Member: false, Guest: false, "": false} {
		if CanChange(level) != want {
			t.Fatalf("CanChange(%q) != %v", level, want)
		}
	}
	for level, want := range map[string]bool{Owner: true, Member: true, Guest: true, "admin": false, "": false} {
		if ValidAccessLevel(level) != want {
			t.Fatalf("ValidAccessLevel(%q) != %v", level, want)
		}
	}
}

// A claim's name is at most MaxNameBytes of valid UTF-8: a longer stored
// name is cut at a character boundary and says so with an ellipsis.
func TestClaimNameIsCutAtACharacterBoundary(t *testing.T) {
	for _, name := range []string{"Flat", strings.Repeat("n", MaxNameBytes), strings.Repeat("n", MaxNameBytes+1),
		strings.Repeat("😀", 200), "n" + strings.Repeat("😀", 100), "nn" + strings.Repeat("ж", 199), strings.Repeat("é", 200)} {
		got := ClaimName(name)
		switch {
		case len(name) <= MaxNameBytes && got != name:
			t.Fatalf("a name within the bound was changed: %q", got)
		case len(got) > MaxNameBytes || !utf8.ValidString(got):
			t.Fatalf("%d-byte name: claim of %d bytes, valid UTF-8 %v", len(name), len(got), utf8.ValidString(got))
		case len(name) > MaxNameBytes && (!strings.HasSuffix(got, "…") || !strings.HasPrefix(name, strings.TrimSuffix(got, "…")) ||
			len(got) < MaxNameBytes-len("…")-3):
			t.Fatalf("%d-byte name: claim %q is not its longest cut", len(name), got)
		}
	}
}
