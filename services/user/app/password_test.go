package app

import (
	"strings"
	"testing"
)

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("not OWASP argon2id parameters: %s", h)
	}
	if ok, err := VerifyPassword(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := VerifyPassword(h, "correct horse batterY"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := HashPassword("correct horse battery")
	if h2 == h {
		t.Fatal("salt is not random")
	}
	if _, err := VerifyPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Fatal("malformed hash accepted")
	}
}

// An unknown email is checked against a hash with exactly the parameters of a
// real one, so it costs the same hashing work as a wrong password.
func TestDummyHashCostsTheSameAsARealOne(t *testing.T) {
	real, _ := HashPassword("x")
	params := func(h string) string { return strings.Join(strings.Split(h, "$")[1:4], "$") }
	if params(dummyHash) != params(real) {
		t.Fatalf("dummy %s vs real %s", params(dummyHash), params(real))
	}
}
