package emailaddr_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/jeeves4service/jeeves4service/services/common/emailaddr"
)

func TestCanonicalForms(t *testing.T) {
	cases := map[string]string{
		"bob@example.com":                        "bob@example.com",
		"Bob@Example.COM":                        "bob@example.com",
		"ｂｏｂ@example.com":                        "bob@example.com",    // fullwidth letters
		"ＢＯＢ＠ＥＸＡＭＰＬＥ．ＣＯＭ":                        "bob@example.com",    // fullwidth @ and full stop too
		"bob@example﹒com":                        "bob@example.com",    // small full stop
		"ﬁne@example.com":                        "fine@example.com",   // a ligature
		"Straße@example.com":                     "straße@example.com", // ß is a letter of its own, not ss (issue 34)
		"\u212Aelvin@example.com":                "kelvin@example.com", // the Kelvin sign
		"o'brien+tag@sub.example.co.uk":          "o'brien+tag@sub.example.co.uk",
		"a.b.c@example.com":                      "a.b.c@example.com",
		"!#$%&'*+-/=?^_`{|}~@example.com":        "!#$%&'*+-/=?^_`{|}~@example.com",
		"jürgen@Bücher.example":                  "jürgen@xn--bcher-kva.example", // an IDN is stored as punycode
		"jürgen@xn--bcher-kva.example":           "jürgen@xn--bcher-kva.example", // and punycode stays
		"ÉVE@example.com":                        "éve@example.com",
		"e\u0301ve@example.com":                  "éve@example.com", // decomposed é composes
		"юля@пример.рф":                          "юля@xn--e1afmkfd.xn--p1ai",
		"山田@例え.jp":                               "山田@xn--r8jz45g.jp",
		"たなか@example.jp":                         "たなか@example.jp",
		"bob1@123.example.com":                   "bob1@123.example.com",
		strings.Repeat("a", 64) + "@example.com": strings.Repeat("a", 64) + "@example.com",
	}
	for in, want := range cases {
		got, err := emailaddr.Canonical(in)
		if err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Issue 34, attack 2: two spellings are one address only when they are one
// mailbox. The domain is what UTS #46 (non-transitional) makes of it, in its
// A-label form; the local part is lower-cased, never case-folded, so ß, ς
// and σ stay letters of their own.
func TestCanonicalFormNeverMergesTwoMailboxes(t *testing.T) {
	same := [][]string{
		// A capital ẞ in a domain is ß's capital there too (review of issue 34:
		// x/net's Unicode 15.0 tables alone made STRAẞE.DE strasse.de).
		{"boss@straße.de", "boss@xn--strae-oqa.de", "BOSS@STRAßE.DE", "boss@Straße.de", "boss@ｓｔｒａße.de", "boss@STRAẞE.DE"},
		{"boss@strasse.de", "BOSS@STRASSE.DE"},
		{"straße@example.com", "STRAẞE@example.com", "Straße@example.com"}, // ẞ is the capital of ß
		{"strasse@example.com", "STRASSE@example.com"},
		{"σοφιας@example.com", "ΣΟΦΙΑΣ@example.com", "Σοφιας@example.com"}, // Σ at a word's end is ς
		{"σοφιασ@example.com"},
		{"σοφιας.αννα@example.com", "ΣΟΦΙΑΣ.ΑΝΝΑ@example.com"}, // a dot ends a word
		{"σοφιασ.αννα@example.com"},
		{"bob@σοφος.gr", "bob@xn--0xaajbq.gr", "bob@ΣΟΦΟς.gr"},
		{"bob@σοφοσ.gr", "bob@xn--0xaakcn.gr", "bob@ΣΟΦΟΣ.gr"}, // UTS #46 maps a capital Σ to σ
		{"ᾳ@example.com", "ᾼ@example.com"},                     // not αι, as case folding makes it
		{"αι@example.com"},
		{"i̇@example.com", "İ@example.com"}, // İ lower-cases to i and a combining dot, as before
		{"i@example.com", "I@example.com"},
		{"ı@example.com"},                  // the dotless ı is a letter of its own
		{"ꭰ@example.com", "Ꭰ@example.com"}, // Cherokee lower-cases (folding made it upper case)
	}
	forms := map[string]int{}
	for i, spellings := range same {
		first, err := emailaddr.Canonical(spellings[0])
		if err != nil {
			t.Fatalf("Canonical(%q): %v", spellings[0], err)
		}
		if other, seen := forms[first]; seen {
			t.Errorf("%q and %q are different mailboxes but both %q", spellings[0], same[other][0], first)
		}
		forms[first] = i
		for _, s := range spellings[1:] {
			if got, err := emailaddr.Canonical(s); err != nil || got != first {
				t.Errorf("Canonical(%q) = %q, %v; want %q, as %q", s, got, err, first, spellings[0])
			}
		}
	}
	for in, want := range map[string]string{"boss@straße.de": "boss@xn--strae-oqa.de", "σοφιας@example.com": "σοφιας@example.com",
		"ΣΟΦΙΑΣ@example.com": "σοφιας@example.com", "ꭰ@example.com": "ꭰ@example.com"} {
		if got, _ := emailaddr.Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}

// A letter typed in lower case is never changed into another: the canonical
// form of an address that is already lower case and NFKC is itself, for
// every lower-case letter of every script dotAtom accepts.
func TestLowerCaseLettersStayThemselves(t *testing.T) {
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		s := string(r)
		if !unicode.IsLower(r) || !norm.NFKC.IsNormalString(s) {
			continue
		}
		address := s + "@example.com"
		got, err := emailaddr.Canonical(address)
		if err == nil && got != address {
			t.Errorf("Canonical(%q) = %q: the lower-case letter U+%04X changed", address, got, r)
		}
	}
}

func TestRefusedAddressesNameTheRule(t *testing.T) {
	// A 250-byte domain (DNS allows 253): with "bobby@" the address is 256 bytes.
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 58)
	cases := map[string]emailaddr.Rule{
		`"x@evil.com"@example.com`:         emailaddr.RulePlain,
		`"bob"@example.com`:                emailaddr.RulePlain,
		"Eve <bob@example.com>":            emailaddr.RulePlain,
		"<bob@example.com>":                emailaddr.RulePlain,
		"bob@example.com (Bob)":            emailaddr.RulePlain,
		"bob(comment)@example.com":         emailaddr.RulePlain,
		" bob@example.com":                 emailaddr.RulePlain,
		"bob@example.com\n":                emailaddr.RulePlain,
		"bob@[192.0.2.1]":                  emailaddr.RulePlain,
		"bob@example.com, eve@example.com": emailaddr.RulePlain,
		"bob\u3000@example.com":            emailaddr.RulePlain, // an ideographic space
		"bob@@example.com":                 emailaddr.RuleOneAt,
		"bob@eve@example.com":              emailaddr.RuleOneAt,
		"x＠evil.com@example.com":           emailaddr.RuleOneAt, // a fullwidth @ is an @
		"bob":                              emailaddr.RuleOneAt,
		"@example.com":                     emailaddr.RuleOneAt,
		"bob@":                             emailaddr.RuleOneAt,
		"":                                 emailaddr.RuleOneAt,
		".bob@example.com":                 emailaddr.RuleLocalPart,
		"bob.@example.com":                 emailaddr.RuleLocalPart,
		"bob..b@example.com":               emailaddr.RuleLocalPart,
		"bob\u200d@example.com":            emailaddr.RuleLocalPart, // an invisible joiner
		"bob\u202e@example.com":            emailaddr.RuleLocalPart, // a bidi override
		"bob☃@example.com":                 emailaddr.RuleLocalPart, // a symbol
		"bob\ufffd@example.com":            emailaddr.RuleLocalPart, // what JSON makes of broken UTF-8
		// Invisible marks and letters: each made a second "bob@example.com".
		"bob\u034f@example.com":                   emailaddr.RuleLocalPart, // combining grapheme joiner
		"bob\ufe0f@example.com":                   emailaddr.RuleLocalPart, // a variation selector
		"bob\U000E0100@example.com":               emailaddr.RuleLocalPart, // a supplementary variation selector
		"bob\u115f@example.com":                   emailaddr.RuleLocalPart, // Hangul choseong filler
		"bob\u1160@example.com":                   emailaddr.RuleLocalPart, // Hangul jungseong filler
		"bob\u3164@example.com":                   emailaddr.RuleLocalPart, // Hangul filler
		"bob\uffa0@example.com":                   emailaddr.RuleLocalPart, // halfwidth Hangul filler
		"\u3164@example.com":                      emailaddr.RuleLocalPart, // nothing visible at all
		"bob@localhost":                           emailaddr.RuleDomain,
		"bob@192.0.2.1":                           emailaddr.RuleDomain,
		"bob@example.com.":                        emailaddr.RuleDomain,
		"bob@.example.com":                        emailaddr.RuleDomain,
		"bob@exa_mple.com":                        emailaddr.RuleDomain,
		"bob@-example.com":                        emailaddr.RuleDomain,
		"bob@example..com":                        emailaddr.RuleDomain,
		"bob@xn--example.com":                     emailaddr.RuleDomain,  // broken punycode
		"bob@" + strings.Repeat("a", 64) + ".com": emailaddr.RuleDomain,  // a label over 63 bytes
		"bob@exаmple.com":                         emailaddr.RuleScripts, // Cyrillic а among Latin
		"bob@xn--exmple-4nf.com":                  emailaddr.RuleScripts, // the same, as punycode
		"bоb@example.com":                         emailaddr.RuleScripts, // Cyrillic о among Latin
		"paypaΙ@example.com":                      emailaddr.RuleScripts, // Greek among Latin
		strings.Repeat("a", 65) + "@example.com":  emailaddr.RuleLength,
		"bobby@" + long:                           emailaddr.RuleLength,
		strings.Repeat("a", 1025):                 emailaddr.RuleLength,
		"bob\xff@example.com":                     emailaddr.RuleUTF8,
	}
	for in, want := range cases {
		got, err := emailaddr.Canonical(in)
		var e *emailaddr.Error
		if !errors.As(err, &e) || e.Rule != want {
			t.Errorf("Canonical(%q) = %q, %v; want rule %d (%s)", in, got, err, want, want.Message())
			continue
		}
		if strings.Contains(err.Error(), in) && in != "" {
			t.Errorf("the error for %q quotes the address", in)
		}
	}
}

// FuzzCanonical: whatever comes in, an accepted address comes out in a form
// that is its own canonical form, plain and within the limits; a refused one
// names a rule.
func FuzzCanonical(f *testing.F) {
	for _, seed := range []string{"bob@example.com", "ＢＯＢ＠ｅｘａｍｐｌｅ．ｃｏｍ", `"x@evil.com"@example.com`, "Eve <bob@example.com>",
		"jürgen@Bücher.example", "bob@exаmple.com", "ǅ@example.com", "ß@ß.de", "İ@example.com", "\u0345@example.com",
		"a\u0300\u0315\u0301@example.com", "ﷺ@example.com", "ᾈ@example.com",
		"ΣΟΦΙΑΣ.ΑΝΝΑ@ΣΟΦΟΣ.gr", "boss@STRAẞE.de", "ᲃ@example.com", "ᏗᏗ@example.com", "İ.Σ@example.com"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := emailaddr.Canonical(in)
		if err != nil {
			var e *emailaddr.Error
			if !errors.As(err, &e) || e.Rule.Message() == "" {
				t.Fatalf("Canonical(%q): %v is not a rule", in, err)
			}
			return
		}
		again, err := emailaddr.Canonical(out)
		if err != nil || again != out {
			t.Fatalf("Canonical(%q) = %q, whose canonical form is %q, %v", in, out, again, err)
		}
		local, domain, ok := strings.Cut(out, "@")
		if !ok || strings.Contains(domain, "@") || len(out) > emailaddr.MaxLength || len(local) > emailaddr.MaxLocalLength ||
			!utf8.ValidString(out) || !norm.NFKC.IsNormalString(out) || strings.ContainsAny(out, "\"<>()[]\\,;: \t\r\n") {
			t.Fatalf("Canonical(%q) = %q: not a plain canonical address", in, out)
		}
		for _, r := range domain {
			if r >= utf8.RuneSelf || 'A' <= r && r <= 'Z' {
				t.Fatalf("Canonical(%q) = %q: the domain is not lower-case ASCII", in, out)
			}
		}
	})
}

// The variant shapes case folding merged into their letter are refused
// rather than made second, look-alike accounts; the letters themselves and ς
// are not.
func TestVariantShapesOfLettersAreRefused(t *testing.T) {
	for _, in := range []string{"ᲃергей@example.com", "ᲀ@example.com", "ᲈ@example.com"} {
		_, err := emailaddr.Canonical(in)
		var e *emailaddr.Error
		if !errors.As(err, &e) || e.Rule != emailaddr.RuleVariant {
			t.Errorf("Canonical(%q): %v, want the variant rule", in, err)
		}
	}
	var refused []rune
	for r := rune(0x80); r <= 0x1FFFF; r++ { // no letter past it has a case

		_, err := emailaddr.Canonical(string(r) + "@example.com")
		var e *emailaddr.Error
		if errors.As(err, &e) && e.Rule == emailaddr.RuleVariant {
			refused = append(refused, r)
		}
	}
	want := []rune{0x1C80, 0x1C81, 0x1C82, 0x1C83, 0x1C84, 0x1C85, 0x1C86, 0x1C87, 0x1C88}
	if string(refused) != string(want) {
		t.Errorf("refused as variants: %U, want %U", refused, want)
	}
	// The lunate sigma has a compatibility mapping: NFKC makes it ς.
	if got, err := emailaddr.Canonical("σοφιαϲ@example.com"); err != nil || got != "σοφιας@example.com" {
		t.Errorf("Canonical(σοφιαϲ@example.com) = %q, %v", got, err)
	}
	for _, in := range []string{"σοφια@example.com", "σοφιας@example.com", "сергей@example.com", "ꭰ@example.com"} {
		if _, err := emailaddr.Canonical(in); err != nil {
			t.Errorf("Canonical(%q): %v", in, err)
		}
	}
}

// legacyCanonical is the canonical form before issue 34, for the migration's
// tests: NFKC_Casefold of the whole address, then IDNA on the domain.
func legacyCanonical(address string) string {
	s := address
	for range 4 {
		next := norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s)))
		if next == s {
			break
		}
		s = next
	}
	local, domain, _ := strings.Cut(s, "@")
	ascii, err := idna.New(idna.MapForLookup(), idna.Transitional(false)).ToASCII(domain)
	if err != nil {
		return ""
	}
	return local + "@" + ascii
}

// Every address whose old form differs from its new one other than by the
// new form's own lower casing (what the user service's start-up migrates)
// is one MayHaveBeenFolded reports, before the @ and after it; ASCII
// addresses without ss are not.
func TestMayHaveBeenFoldedFindsEveryMergedForm(t *testing.T) {
	for r := rune(0x80); r <= 0x1FFFF; r++ { // no letter past it has a case
		for _, address := range []string{string(r) + "@example.com", "bob@" + string(r) + ".de", "bob@a" + string(r) + ".de"} {
			now, err := emailaddr.Canonical(address)
			if err != nil {
				continue
			}
			old := legacyCanonical(address)
			if again, err := emailaddr.Canonical(old); (err != nil || again != now) && !emailaddr.MayHaveBeenFolded(old) {
				t.Errorf("%q (U+%04X) was stored as %q, today %q: not reported", address, r, old, now)
			}
		}
	}
	for stored, want := range map[string]bool{"bob@example.com": false, "jürgen@xn--bcher-kva.example": false, "boss@example.com": true,
		"bob@strasse.de": true, "σοφια@example.com": true, "bob@xn--0xaakcn.gr": true, "αι@example.com": true, "ꭰ@example.com": false} {
		if got := emailaddr.MayHaveBeenFolded(stored); got != want {
			t.Errorf("MayHaveBeenFolded(%q) = %v, want %v", stored, got, want)
		}
	}
}
