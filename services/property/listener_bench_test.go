package property_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/logging"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/property"
	"github.com/jeeves4service/jeeves4service/services/property/adapters"
	"github.com/jeeves4service/jeeves4service/services/property/app"
	limithandler "github.com/jeeves4service/jeeves4service/tools/bench/limit/handler"
)

// BenchmarkInternalListener: the internal listener's handler, in process, as
// the service serves it (request id, access and audit line, metrics, the
// failure and per-caller budgets, the token guard, the validator, the
// caller check) against the same generated handler and query mounted bare,
// both on one SQLite database, and against the limit (make bench's yardstick,
// a bare net/http handler, the same answer from one indexed query). The difference is what the guard costs a
// call before the network and the query (see make bench's internal_get).
func BenchmarkInternalListener(b *testing.B) {
	// The services' own logger (buffered JSON, as lifecycle builds it), into
	// io.Discard; a budget large enough for the whole run, still spent on
	// every call.
	out, err := logging.NewOutput(func(string) string { return "" }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	log, err := logging.New(func(string) string { return "" }, out, "property-service")
	if err != nil {
		b.Fatal(err)
	}
	e := startLogged(b, testenv.Engines(b)[0].NewURL(b), func(c *property.Config) {
		c.InternalRequestLimit = ratelimit.Budget{Count: 1 << 40, Window: time.Minute}
		c.SubjectLimit = ratelimit.Budget{Count: 1 << 40, Window: time.Minute}
	}, log)
	repo, conn, err := adapters.Open(context.Background(), e.dbURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	bare := chi.NewRouter()
	property.MountInternal(bare, &app.Service{Repo: repo}, nil)
	limit, err := limithandler.New(context.Background(), conn, database.SQLite, goodToken)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"limit", limit}, {"bare", bare}, {"guarded", e.svc.Server.Handler("internal")}} {
		b.Run(c.name, func(b *testing.B) {
			// The subject token the user service would send (the bare and
			// limit handlers ignore it); it lives 30 s, longer than a run.
			subject := e.issuer.SubjectToken(b, 1, "property-service", "getUserProperties", "user-service")
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/api/internal/properties/users/1", nil)
				req.Header.Set(internalauth.Header, goodToken)
				req.Header.Set(internalauth.SubjectHeader, subject)
				rec := httptest.NewRecorder()
				c.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
