package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"jeeves4service/services/common/httpx"
	"jeeves4service/services/common/jwtauth"
	"jeeves4service/services/common/testenv"
	"jeeves4service/services/common/web"
	"jeeves4service/services/property"
	propadapters "jeeves4service/services/property/adapters"
	propapp "jeeves4service/services/property/app"
	"jeeves4service/services/user"
	userapp "jeeves4service/services/user/app"
)

type system struct {
	user, property, internal string
	token                    string
	propDB                   *sql.DB
	propApp                  *propapp.Service
	baseInternal, basePublic string
	stop                     func()
}

func freshDB(ctx context.Context, engine, admin, dir, name string) (string, func(), error) {
	if engine == "sqlite" {
		return "sqlite:" + filepath.Join(dir, name+".db"), func() {}, nil
	}
	return testenv.ScratchPostgres(ctx, admin, "bench_"+name+"_")
}

func startSystem(ctx context.Context, o options, engine string) (*system, error) {
	dir, err := os.MkdirTemp("", "jeeves-bench-")
	if err != nil {
		return nil, err
	}
	userURL, dropUser, err := freshDB(ctx, engine, o.postgres, dir, "user")
	if err != nil {
		return nil, err
	}
	propURL, dropProp, err := freshDB(ctx, engine, o.postgres, dir, "property")
	if err != nil {
		return nil, err
	}
	var tok [32]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	log := slog.New(slog.NewJSONHandler(io.Discard, nil)) // audit lines are still built and written, to nowhere
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	propCfg, err := property.LoadConfig(
		env(map[string]string{"PROPERTY_PUBLIC_ADDR": "127.0.0.1:0", "PROPERTY_INTERNAL_ADDR": "127.0.0.1:0",
			"PROPERTY_DATABASE_URL": propURL, "INTERNAL_SERVICE_TOKEN": token, "JWT_JWKS_URL": "http://127.0.0.1:1/"}),
	)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	serve := func(s interface{ Serve(context.Context) error }) {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Serve(ctx) }()
	}
	propSvc, err := property.New(ctx, propCfg, log)
	if err != nil {
		cancel()
		return nil, err
	}
	userCfg, err := user.LoadConfig(env(map[string]string{"USER_PUBLIC_ADDR": "127.0.0.1:0", "USER_DATABASE_URL": userURL,
		"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_URL": "http://" + propSvc.Server.Addr("internal"),
		"JWT_SIGNING_KEY_FILE": filepath.Join(dir, "key.pem"), "JWT_MAX_PROPERTY_CLAIMS": "1000"}))
	if err != nil {
		cancel()
		return nil, err
	}
	userSvc, err := user.New(ctx, userCfg, log)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &system{user: "http://" + userSvc.Server.Addr("public"), property: "http://" + propSvc.Server.Addr("public"),
		internal: "http://" + propSvc.Server.Addr("internal"), token: token}
	propSvc.SetJWKSURL(s.user + "/.well-known/jwks.json")
	serve(propSvc)
	serve(userSvc)

	// The baselines run the same handlers over the same database, without the
	// layer each scenario measures.
	repo, conn, err := propadapters.Open(ctx, propURL)
	if err != nil {
		cancel()
		return nil, err
	}
	s.propDB, s.propApp = conn, &propapp.Service{Repo: repo}
	baseSrv, err := httpx.Listen(log, &httpx.Listener{Name: "internal", Addr: "127.0.0.1:0", Handler: unguardedInternal(s.propApp, log)},
		&httpx.Listener{Name: "public", Addr: "127.0.0.1:0", Handler: mustHandler(publicWithoutJWT(s.propApp, log))})
	if err != nil {
		cancel()
		return nil, err
	}
	serve(baseSrv)
	s.baseInternal, s.basePublic = "http://"+baseSrv.Addr("internal"), "http://"+baseSrv.Addr("public")
	s.stop = func() {
		cancel()
		wg.Wait()
		conn.Close()
		dropUser()
		dropProp()
		os.RemoveAll(dir)
	}
	return s, nil
}

func mustHandler(h http.Handler, err error) http.Handler {
	if err != nil {
		panic(err)
	}
	return h
}

// unguardedInternal is the internal handler and query with neither the
// validator nor the token guard nor the audit log: the internal_get baseline.
func unguardedInternal(svc *propapp.Service, log *slog.Logger) http.Handler {
	r := chi.NewRouter()
	property.MountInternal(r, svc, log)
	return r
}

// publicWithoutJWT is the public property listener exactly as served, except
// that the caller's claims are injected instead of verified: the public_read baseline.
func publicWithoutJWT(svc *propapp.Service, log *slog.Logger) (http.Handler, error) {
	inject := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := &jwtauth.Claims{UserID: benchUserID}
			next.ServeHTTP(w, r.WithContext(jwtauth.WithClaims(r.Context(), c)))
		})
	}
	return property.PublicHandler(web.Base{Log: log}, svc, inject)
}

var benchUserID int64

const benchPassword = "bench password 1234"

func post(url string, body any, out any, headers ...string) (http.Header, error) {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	if out != nil {
		return resp.Header, json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.Header, nil
}

func registerAndLogin(s *system, email string) (int64, string, error) {
	var u struct{ ID int64 }
	if _, err := post(s.user+"/api/users/register", map[string]string{"email": email, "password": benchPassword,
		"first_name": "Bench", "last_name": "User"}, &u); err != nil {
		return 0, "", err
	}
	var sess struct{ Token string }
	if _, err := post(s.user+"/api/users/authenticate", map[string]string{"email": email, "password": benchPassword}, &sess); err != nil {
		return 0, "", err
	}
	return u.ID, sess.Token, nil
}

// attack warms up, then measures target for o.duration.
func attack(o options, targets ...vegeta.Target) Result {
	return measure(o, [][]vegeta.Target{targets})[0]
}

// pairRounds is how many slices a scenario and its baseline alternate in.
const pairRounds = 4

// measure warms each variant up, then runs them in alternating slices
// (A B, B A, A B, B A) of o.duration/pairRounds, so that a disturbance on a
// shared machine (another process, a checkpoint) falls on both variants
// instead of on whichever happened to run second.
func measure(o options, variants [][]vegeta.Target) []Result {
	// An Attacker stops for good after one attack: a new one per slice.
	attacker := func() *vegeta.Attacker {
		return vegeta.NewAttacker(vegeta.Workers(uint64(o.concurrency)), vegeta.MaxWorkers(uint64(o.concurrency)),
			vegeta.Connections(o.concurrency*2), vegeta.Timeout(10*time.Second))
	}
	rate := vegeta.Rate{Freq: 0} // as fast as the workers go
	targeters := make([]vegeta.Targeter, len(variants))
	for i, v := range variants {
		targeters[i] = vegeta.NewStaticTargeter(v...)
		for range attacker().Attack(targeters[i], rate, o.warmup, "warmup") {
		}
	}
	metrics := make([]vegeta.Metrics, len(variants))
	busy := make([]time.Duration, len(variants))
	rounds := 1
	if len(variants) > 1 {
		rounds = pairRounds
	}
	for round := 0; round < rounds; round++ {
		for k := range variants {
			i := k
			if round%2 == 1 {
				i = len(variants) - 1 - k
			}
			start := time.Now()
			for res := range attacker().Attack(targeters[i], rate, o.duration/time.Duration(rounds), "measure") {
				metrics[i].Add(res)
			}
			busy[i] += time.Since(start)
		}
	}
	out := make([]Result, len(variants))
	for i := range variants {
		m := &metrics[i]
		m.Close()
		var errs uint64
		for code, n := range m.StatusCodes {
			if code[0] != '2' {
				errs += uint64(n)
			}
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		// Requests per second of measured time (vegeta's own throughput would count the
		// other variant's slices as idle time).
		rps := float64(m.Requests-errs) / busy[i].Seconds()
		out[i] = Result{RPS: rps, P50ms: ms(m.Latencies.P50), P90ms: ms(m.Latencies.P90), P99ms: ms(m.Latencies.P99), Errors: errs}
	}
	return out
}

func versus(r, base Result, scenario, engine, baselineIs, target string) Result {
	r.Scenario, r.Engine, r.Target, r.BaselineIs = scenario, engine, target, baselineIs
	base.Scenario, base.Engine, base.Variant = scenario, engine, "baseline"
	r.Baseline = &base
	if base.RPS > 0 {
		r.RatioRPS = r.RPS / base.RPS
	}
	if base.P99ms > 0 && r.P99ms > 0 {
		r.RatioP99 = r.P99ms / base.P99ms
	}
	return r
}

func runEngine(ctx context.Context, o options, engine string) ([]Result, error) {
	s, err := startSystem(ctx, o, engine)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	id, token, err := registerAndLogin(s, "bench@example.com")
	if err != nil {
		return nil, err
	}
	benchUserID = id
	for i := 0; i < 5; i++ {
		if _, err := post(s.property+"/api/properties/", map[string]string{"name": fmt.Sprintf("Bench home %d", i)}, nil, "Authorization", "Bearer "+token); err != nil {
			return nil, err
		}
	}
	var out []Result

	// internal_get: the full guard against the bare handler and query.
	path := fmt.Sprintf("/api/internal/properties/users/%d", id)
	hdr := http.Header{"X-Internal-Token": {s.token}}
	if o.runs("internal_get") {
		pair := measure(
			o,
			[][]vegeta.Target{{{Method: "GET", URL: s.internal + path, Header: hdr}}, {{Method: "GET", URL: s.baseInternal + path}}},
		)
		out = append(
			out,
			versus(pair[0], pair[1], "internal_get", engine, "same handler without validator/guard/audit", ">=0.85 req/s, p99<=1.5x"),
		)
		fmt.Printf("internal_get done\n")
	}

	// public_read: JWT verification against injected claims.
	if o.runs("public_read") {
		pair := measure(
			o,
			[][]vegeta.Target{
				{{Method: "GET", URL: s.property + "/api/properties/", Header: http.Header{"Authorization": {"Bearer " + token}}}},
				{{Method: "GET", URL: s.basePublic + "/api/properties/"}},
			},
		)
		out = append(
			out,
			versus(pair[0], pair[1], "public_read", engine, "same handler, claims injected (no JWT verification)", ">=0.8 req/s"),
		)
		fmt.Printf("public_read done\n")
	}

	// login: end to end against raw password verifications on the same cores.
	if o.runs("login") {
		body, _ := json.Marshal(map[string]string{"email": "bench@example.com", "password": benchPassword})
		login := attack(o, vegeta.Target{Method: "POST", URL: s.user + "/api/users/authenticate", Body: body,
			Header: http.Header{"Content-Type": {"application/json"}}})
		out = append(
			out,
			versus(login, hashRate(o.duration), "login", engine, "argon2id verifications/s on all cores", ">=0.9 of hash-bound"),
		)
		fmt.Printf("login done\n")
	}
	if o.runs("claims_growth") {
		cg, err := claimsGrowth(o, s, engine)
		if err != nil {
			return nil, err
		}
		out = append(out, cg...)
		fmt.Printf("claims_growth done\n")
	}
	if o.runs("rows_growth") {
		rg, err := rowsGrowth(ctx, o, s, engine)
		if err != nil {
			return nil, err
		}
		out = append(out, rg...)
		fmt.Printf("rows_growth done\n")
	}
	return out, nil
}

// hashRate is the ceiling for logins: password verifications per second with
// every core busy, nothing else.
func hashRate(d time.Duration) Result {
	hash, _ := userapp.HashPassword(benchPassword)
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				_, _ = userapp.VerifyPassword(hash, benchPassword)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return Result{RPS: float64(n.Load()) / d.Seconds()}
}

// claimsGrowth: login latency and JWT size for users with 1..1000 properties.
func claimsGrowth(o options, s *system, engine string) ([]Result, error) {
	short := o
	short.duration = o.duration / 2
	var out []Result
	for _, n := range []int{1, 10, 100, 1000} {
		email := fmt.Sprintf("claims%d@example.com", n)
		id, _, err := registerAndLogin(s, email)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			if _, err := s.propApp.Create(context.Background(), propapp.Caller{UserID: id}, fmt.Sprintf("Home %d of user %d", i, id), "1 Bench Road"); err != nil {
				return nil, err
			}
		}
		var sess struct{ Token string }
		if _, err := post(s.user+"/api/users/authenticate", map[string]string{"email": email, "password": benchPassword}, &sess); err != nil {
			return nil, err
		}
		body, _ := json.Marshal(map[string]string{"email": email, "password": benchPassword})
		r := attack(short, vegeta.Target{Method: "POST", URL: s.user + "/api/users/authenticate", Body: body,
			Header: http.Header{"Content-Type": {"application/json"}}})
		r.Scenario, r.Engine, r.Variant = "claims_growth", engine, fmt.Sprintf("%d properties", n)
		r.Extra = map[string]float64{"jwt_bytes": float64(len(sess.Token))}
		out = append(out, r)
	}
	return out, nil
}

// rowsGrowth: internal_get p99 as the property tables grow.
func rowsGrowth(ctx context.Context, o options, s *system, engine string) ([]Result, error) {
	short := o
	short.duration = o.duration / 2
	path := fmt.Sprintf("/api/internal/properties/users/%d", benchUserID)
	hdr := http.Header{"X-Internal-Token": {s.token}}
	var out []Result
	have := 0
	if err := s.propDB.QueryRowContext(ctx, "SELECT COUNT(*) FROM properties").Scan(&have); err != nil {
		return nil, err
	}
	for _, n := range o.rows {
		if n > have {
			// Bulk rows owned by 1000 other users, one membership each.
			_, err := s.propDB.ExecContext(ctx, `INSERT INTO properties (name, address, created_by, created_at, updated_at)
				WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < `+fmt.Sprint(n-have)+`)
				SELECT 'bulk', '', 100000 + (x % 1000), 0, 0 FROM seq`)
			if err != nil {
				return nil, fmt.Errorf("seed %d rows: %w", n, err)
			}
			_, err = s.propDB.ExecContext(ctx, `INSERT INTO property_members (property_id, user_id, access_level, created_at)
				SELECT p.id, p.created_by, 'owner', 0 FROM properties p
				WHERE p.name = 'bulk' AND NOT EXISTS (SELECT 1 FROM property_members m WHERE m.property_id = p.id)`)
			if err != nil {
				return nil, fmt.Errorf("seed %d memberships: %w", n, err)
			}
			// Refresh planner statistics, as autovacuum (PostgreSQL) or a periodic
			// ANALYZE would: with stale ones PostgreSQL scans all of property_members.
			if _, err := s.propDB.ExecContext(ctx, "ANALYZE"); err != nil {
				return nil, fmt.Errorf("analyze: %w", err)
			}
			have = n
		}
		r := attack(short, vegeta.Target{Method: "GET", URL: s.internal + path, Header: hdr})
		r.Scenario, r.Engine, r.Variant = "rows_growth", engine, fmt.Sprintf("%d rows", n)
		out = append(out, r)
	}
	return out, nil
}
