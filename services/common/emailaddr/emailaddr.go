// Package emailaddr validates email addresses and puts them in the one
// canonical form under which accounts are unique and looked up (the user
// service's registration and login; the property service's invitations).
//
// An address is validated, never parsed: only a plain local@domain is
// accepted, no display name ("Eve <bob@example.com>"), no quoted local part,
// no comments, no brackets, no spaces. Nothing is dropped or unquoted to
// make an input fit: what is checked is exactly what is stored.
//
// The canonical form never makes two mailboxes one (issue 34: folding case
// before IDNA made boss@straße.de boss@strasse.de, another domain's
// mailbox). It is, in order:
//
//  1. Unicode NFKC of the whole address: fullwidth, ligature and other
//     presentation forms are the letter they show, never another letter
//     ("ＢＯＢ＠ｅｘａｍｐｌｅ．ｃｏｍ" is BOB@example.com; ß and ς stay);
//  2. the plain syntax, checked on that form: exactly one @; before it a
//     dot-atom of at most 64 bytes (letters, marks and digits of any script,
//     the ASCII specials RFC 5322 allows in an atom, single dots between);
//  3. the local part lower-cased, not case-folded: Unicode's default
//     lower-case mapping (with the final-sigma rule), so a capital becomes
//     its own lower-case letter and a lower-case letter never changes.
//     Bob and bob are one mailbox, as nearly every mail system treats them;
//     ß is not ss, ς is not σ (case folding said they were). ẞ is ß, İ is
//     i with a combining dot, and a capital Σ ending a word is ς, as Greek is
//     spelled (each dot-atom is a word). Variant shapes of a letter that only case folding named that
//     letter (ᲀ to ᲈ, Old Cyrillic) are refused, not a second account;
//  4. the domain in its A-label form (xn--…): UTS #46 processing as for
//     lookup, nontransitional (ß and ς stay: straße.de and xn--strae-oqa.de
//     are one domain, strasse.de another), STD3 rules, Bidi and joiner
//     rules, DNS lengths, on the domain as typed: UTS #46 maps the case
//     itself, but for a capital ẞ, which is mapped to ß first (x/net's
//     tables, Unicode 15.0, map it to ss, so STRAẞE.DE would be strasse.de,
//     another domain; Unicode 15.1's map it to ß). At least two
//     labels and a top-level label that is not all digits (no IP
//     addresses, no "localhost"). The A-label rather than the
//     U-label: it is what the DNS and mail without SMTPUTF8 use, it is the
//     form accounts were stored in before, and it shows a look-alike label
//     as what it is;
//  5. no mixed scripts: the local part, and each domain label as Unicode,
//     must use one script, or one of the combinations UTS #39 calls highly
//     restrictive (Latin with Han and Hiragana/Katakana, Bopomofo or
//     Hangul); Common and Inherited characters (digits, punctuation,
//     combining marks) go with any. "bob@exаmple.com" with a Cyrillic "а"
//     is refused, as is "bоb@example.com";
//  6. at most 254 bytes in all (the SMTP path limit).
//
// Forms stored before issue 34 differ from today's only where folding
// merged: MayHaveBeenFolded says which stored forms may stand for another
// mailbox.
//
// Canonical(Canonical(x)) == Canonical(x) for every accepted x (fuzzed).
// The scripts come from Go's unicode.Scripts (Script, not Script_Extensions),
// which is stricter than UTS #39 for the few characters used by several
// scripts.
package emailaddr

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// Limits, in bytes of the canonical form (RFC 5321 4.5.3.1).
const (
	MaxLength      = 254
	MaxLocalLength = 64
	// maxInput bounds the work done on an input before it is refused: NFKC
	// may lengthen a string, so the bound applies before it too.
	maxInput = 1024
)

// Rule is a rule an address can break.
type Rule int

// The rules, in the order they are checked.
const (
	RuleLength Rule = iota + 1
	RuleUTF8
	RulePlain
	RuleOneAt
	RuleLocalPart
	RuleDomain
	RuleScripts
	RuleVariant
)

// Message says the rule in words that never quote the address, for a
// problem's errors entry ("email" + message).
func (r Rule) Message() string {
	switch r {
	case RuleLength:
		return "is too long: at most 254 bytes in canonical form, 64 of them before the @"
	case RuleUTF8:
		return "is not valid UTF-8"
	case RulePlain:
		return "must be a plain address local@domain: no display name, quotes, comments, brackets or spaces"
	case RuleOneAt:
		return "must have exactly one @, with text on both sides"
	case RuleLocalPart:
		return "may hold before the @ only letters, digits and !#$%&'*+-/=?^_`{|}~, with single dots between them"
	case RuleDomain:
		return "must have a domain name after the @, such as example.com"
	case RuleScripts:
		return "must not mix scripts (look-alike characters) in the part before the @ or in a domain label"
	case RuleVariant:
		return "must not use a variant shape of a letter (such as the Old Cyrillic ᲃ for с) before the @: type the letter itself"
	}
	return "is not a valid email address"
}

// Error is an address that breaks Rule.
type Error struct{ Rule Rule }

func (e *Error) Error() string { return "email address " + e.Rule.Message() }

func broken(r Rule) (string, error) { return "", &Error{Rule: r} }

// domains maps and checks a domain name for lookup (RFC 5891 section 5, as
// UTS #46 maps it, nontransitional: ß and ς stay, so straße.de is
// xn--strae-oqa.de and never strasse.de), with the Bidi rule and DNS
// lengths. It is given the domain as typed (after NFKC): its mapping does
// the case, and any case mapping done before it would be a second opinion.
var domains = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true), idna.Transitional(false))

// Canonical returns the canonical form of address (see the package comment),
// or an *Error naming the first rule it breaks.
func Canonical(address string) (string, error) {
	if len(address) > maxInput {
		return broken(RuleLength)
	}
	if !utf8.ValidString(address) {
		return broken(RuleUTF8)
	}
	// NFKC on the whole address first, so that a fullwidth @ or full stop
	// is one before the address is split; NFKC maps a presentation form to
	// its letter and never one letter to another (ß and ς stay).
	s := norm.NFKC.String(address)
	if len(s) > maxInput {
		return broken(RuleLength)
	}
	if strings.IndexFunc(s, notPlain) >= 0 {
		return broken(RulePlain)
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.Count(s, "@") != 1 {
		return broken(RuleOneAt)
	}
	local, domain := lower(s[:at]), s[at+1:]
	if len(local) > MaxLocalLength {
		return broken(RuleLength)
	}
	if !dotAtom(local) {
		return broken(RuleLocalPart)
	}
	// A capital ẞ is ß's capital, as in the local part: x/net's UTS #46
	// tables (Unicode 15.0) map it to ss, another domain (STRAẞE.DE would be
	// strasse.de), which Unicode 15.1's tables no longer do.
	ascii, err := domains.ToASCII(strings.ReplaceAll(domain, "\u1e9e", "ß"))
	if err != nil || !hostName(ascii) {
		return broken(RuleDomain)
	}
	if !singleScript(local) {
		return broken(RuleScripts)
	}
	if strings.IndexFunc(local, variant) >= 0 {
		return broken(RuleVariant)
	}
	for label := range strings.SplitSeq(ascii, ".") {
		if u, err := domains.ToUnicode(label); err != nil || !singleScript(u) {
			return broken(RuleScripts)
		}
	}
	canonical := local + "@" + ascii
	if len(canonical) > MaxLength {
		return broken(RuleLength)
	}
	return canonical, nil
}

// Valid reports whether address has a canonical form (nil) or the *Error
// naming the rule it breaks: the contract's `format: email`.
func Valid(address string) error {
	_, err := Canonical(address)
	return err
}

// lower is the local part's letter case: Unicode's default lower-case
// mapping (full, with the final-sigma rule), then NFKC, repeated until
// nothing changes (lowering can undo a composition). Only capital and
// title-case letters change, each into its own lower-case letter: ß, ς, σ,
// ı stay as typed, ẞ is ß, a capital Σ ending a word is ς. Each dot-atom is
// lowered on its own, so a Σ before a dot ends its word (Unicode's rule
// would look past the dot). Case folding, used before issue 34, made ß ss
// and ς σ: two mailboxes, one account. A Caser keeps state, so each call
// has its own.
func lower(local string) string {
	atoms := strings.Split(local, ".")
	for i, s := range atoms {
		for range 4 {
			next := norm.NFKC.String(cases.Lower(language.Und).String(s))
			if next == s {
				break
			}
			s = next
		}
		atoms[i] = s
	}
	return strings.Join(atoms, ".")
}

// variant: a lower-case letter that is only another shape of a letter
// (Unicode gives it that letter's capital and case-folds it into that
// letter, with no compatibility mapping NFKC would apply): the Old Cyrillic
// rounded, tall and wide forms ᲀ to ᲈ (a wide ᲃ is a second с). Case
// folding made them that letter; lower casing keeps them, so they would be
// look-alike second accounts. Refused, they are neither that nor a merge.
// The final sigma ς is a letter of its own in Greek spelling, not a variant.
func variant(r rune) bool {
	if r < utf8.RuneSelf || r == 'ς' || !unicode.IsLower(r) {
		return false
	}
	f := cases.Fold().String(string(r))
	folded, size := utf8.DecodeRuneInString(f)
	return size == len(f) && folded != r && folded != unicode.ToUpper(r)
}

// notPlain: what only a display name, a quoted string, a comment, a domain
// literal or a list would hold.
func notPlain(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`"(),:;<>[\]`, r)
}

// dotAtom: atoms of atext (RFC 5322 3.2.3, and RFC 6531's non-ASCII, here
// letters, marks and digits only: no symbols, no invisible format
// characters) with single dots between them.
func dotAtom(local string) bool {
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for _, r := range local {
		switch {
		case r == '.':
		case r < utf8.RuneSelf:
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)) {
				return false
			}
		case !unicode.In(r, unicode.L, unicode.M, unicode.N), defaultIgnorable(r):
			return false
		}
	}
	return true
}

// defaultIgnorable: a letter or mark that renders as nothing (Unicode's
// Default_Ignorable_Code_Point, less the format characters dotAtom refuses
// anyway): the combining grapheme joiner, the variation selectors, the
// Hangul fillers. Allowed, "bob\u3164@example.com" is a second account
// that shows as bob@example.com.
func defaultIgnorable(r rune) bool {
	return unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// hostName: an ASCII domain of at least two labels whose last label is not
// all digits (so neither an IP address nor a bare name such as localhost).
func hostName(ascii string) bool {
	dot := strings.LastIndexByte(ascii, '.')
	if dot <= 0 || dot == len(ascii)-1 {
		return false
	}
	return strings.ContainsFunc(ascii[dot+1:], func(r rune) bool { return r < '0' || r > '9' })
}

// scriptNames is unicode.Scripts' keys, sorted, so lookups are deterministic.
var scriptNames = func() []string {
	names := make([]string, 0, len(unicode.Scripts))
	for name := range unicode.Scripts {
		if name != "Common" && name != "Inherited" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}()

// highlyRestrictive are the script combinations UTS #39 (5.2) allows in one
// identifier besides a single script.
var highlyRestrictive = [][]string{
	{"Han", "Hiragana", "Katakana", "Latin"},
	{"Bopomofo", "Han", "Latin"},
	{"Han", "Hangul", "Latin"},
}

// singleScript reports whether s uses one script, or one of the highly
// restrictive combinations (Common and Inherited go with any).
func singleScript(s string) bool {
	var used []string
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
				used = addScript(used, "Latin")
			}
			continue
		}
		for _, name := range scriptNames {
			if unicode.Is(unicode.Scripts[name], r) {
				used = addScript(used, name)
				break
			}
		}
	}
	if len(used) <= 1 {
		return true
	}
	for _, allowed := range highlyRestrictive {
		if !slices.ContainsFunc(used, func(name string) bool { return !slices.Contains(allowed, name) }) {
			return true
		}
	}
	return false
}

func addScript(used []string, name string) []string {
	if slices.Contains(used, name) {
		return used
	}
	return append(used, name)
}

// MayHaveBeenFolded reports whether stored, an address in the canonical form
// made before issue 34 (full case folding before IDNA), may stand for
// another mailbox than the one it names today: folding made ß and ẞ ss, ς σ,
// and an iota subscript (ᾳ) ι, before the @ and in the domain alike, so an
// account stored as boss@strasse.de may have been registered as
// boss@straße.de. What was typed is gone; such a form can only be reported.
// Nothing else that folding did is lost: every other difference between the
// two forms is a capital and its lower case (the user service's start-up
// puts those in the new form) or a letter the new form refuses (variant).
func MayHaveBeenFolded(stored string) bool {
	local, domain, _ := strings.Cut(stored, "@")
	if strings.Contains(local, "ss") || strings.ContainsAny(local, "σι") {
		return true
	}
	unicodeDomain, err := domains.ToUnicode(domain)
	if err != nil {
		unicodeDomain = domain
	}
	return strings.Contains(unicodeDomain, "ss") || strings.ContainsAny(unicodeDomain, "σι")
}
