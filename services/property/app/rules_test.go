package app

import "testing"

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
