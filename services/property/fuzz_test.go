package property_test

import (
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// FuzzCreateProperty throws arbitrary bodies at POST /api/properties/ through
// the real listener: the answer is a 201 or a documented 4xx problem (the
// contract checker in testenv.Do fails anything else), never a 5xx or a
// dropped connection.
func FuzzCreateProperty(f *testing.F) {
	for _, seed := range []string{
		`{"name":"Cottage"}`, `{"name":"Cottage","address":"1 Road"}`, `{"name":""}`, `{"name":12}`,
		`{"name":"a","extra":1}`, `{`, `[]`, `null`, `""`, `{"name":"\u0000"}`, `{"name":"a","name":"b"}`,
	} {
		f.Add(seed)
	}
	eng := testenv.Engines(f)[0] // SQLite: fuzzing is about input handling, not the engine
	e := start(f, eng)
	token := e.issuer.Token(f, 77, false)
	f.Fuzz(func(t *testing.T, body string) {
		r := testenv.Do(t, "POST", e.public+"/api/properties/", body, testenv.Bearer(token)...)
		if r.Status != 201 && (r.Status < 400 || r.Status >= 500) {
			t.Fatalf("body %q: status %d", body, r.Status)
		}
	})
}
