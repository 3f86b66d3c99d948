package ports

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/jeeves4service/jeeves4service/gen/userapi"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// Issue 25, item 4: the generated User type's email marshalled through
// net/mail, so an address stored as x@evil.com@example.com (net/mail had
// unquoted "x@evil.com"@example.com on the way in) failed to marshal: the
// register that stored it answered 500, and so did every GET /me of it.
// Whatever is stored is answered.
func TestUserResponsesCannotFailToMarshal(t *testing.T) {
	for _, email := range []string{"x@evil.com@example.com", "ｂｏｂ@example.com", "jürgen@xn--bcher-kva.example",
		"юля@xn--e1afmkfd.xn--p1ai", "o'brien+tag@example.co.uk"} {
		u := toUser(app.UserRecord{ID: 7, Email: email, FirstName: "A", LastName: "B", IsActive: true, CreatedAt: 1})
		for name, visit := range map[string]func(*httptest.ResponseRecorder) error{
			"register": func(w *httptest.ResponseRecorder) error {
				return userapi.RegisterUser201JSONResponse{Body: u}.VisitRegisterUserResponse(w)
			},
			"me": func(w *httptest.ResponseRecorder) error {
				return userapi.GetCurrentUser200JSONResponse{Body: u}.VisitGetCurrentUserResponse(w)
			},
		} {
			w := httptest.NewRecorder()
			if err := visit(w); err != nil {
				t.Fatalf("%s response for %q: %v", name, email, err)
			}
			var got struct{ Email string }
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Email != email {
				t.Fatalf("%s response for %q: %s %v", name, email, w.Body, err)
			}
		}
	}
}
