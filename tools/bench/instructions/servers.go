package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/lifecycle"
	"github.com/jeeves4service/jeeves4service/tools/procs"
)

// server is one process under callgrind.
type server struct {
	name  string
	proc  *procs.Proc
	out   string   // --callgrind-out-file; dumps are out.1, out.2, …
	addrs []string // its listeners
	// gc, when set, is a URL that makes the process collect garbage (the
	// admin listener's /debug/pprof/heap?gc=1): asked before the counters are
	// zeroed, so that every measured window starts just after a collection
	// and holds the same number of GC cycles: otherwise whether one more
	// cycle (a scan of the service's whole heap) falls into the window decides
	// the count more than the code does.
	gc string
}

func (s *server) base(i int) string { return "http://" + s.addrs[i] }

func (s *server) control(args ...string) error {
	cmd := exec.Command("callgrind_control", append(args, strconv.Itoa(s.proc.Pid()))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("callgrind_control %v on %s: %w: %s", args, s.name, err, out)
	}
	return nil
}

// dump asks for a dump and returns the file it was written to.
func (s *server) dump() (string, error) {
	before, _ := filepath.Glob(s.out + ".*")
	if err := s.control("-d"); err != nil {
		return "", err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(s.out + ".*")
		if len(files) > len(before) {
			sort.Slice(files, func(i, j int) bool { return suffix(files[i]) < suffix(files[j]) })
			last := files[len(files)-1]
			// callgrind writes the totals last.
			if data, err := os.ReadFile(last); err == nil && bytes.Contains(data, []byte("\ntotals:")) {
				return last, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("%s: no callgrind dump in %s.* after 2 minutes", s.name, s.out)
}

func suffix(path string) int {
	n, _ := strconv.Atoi(path[strings.LastIndexByte(path, '.')+1:])
	return n
}

// system is every process of one run.
type system struct {
	service, limit, bare *server
	// The same service linked with its compiled validation plans off (kin-openapi's
	// ValidateRequest for every operation), and with its direct access-line writer off
	// (slog's JSON handler for every line).
	noPlans, slogLines *server
	// tools/bench/baseline: the service's generated handler and query mounted
	// without validator, token guard, budgets or audit line.
	unguarded *server
	// The shipped service with REQUEST_LIMIT=off INTERNAL_REQUEST_LIMIT=off, and with METRICS=off.
	noBudgets, noMetrics *server
	// The user service under callgrind, its own database seeded with
	// profilesMembers members of one property: the profiles call.
	profiles      *server
	user          *procs.Proc
	token, bearer string
	// signer holds the user service's key (the file it created at its
	// start): the driver stands in for the user service on the internal
	// call and mints the subject token each call needs.
	signer *jwtauth.Signer
}

// tokenHeader is the internal call's credential with a fresh subject token,
// as the user service sends it: it mints one per login, for that login's
// one claims call, so every call here gets its own (nothing in the guard
// caches a verified subject token, and a reused one would be as costly, but
// a fresh one is what production sends).
func (s *system) tokenHeader() http.Header {
	tok, _, err := s.signer.SignSubject(jwtauth.SubjectRequest{Subject: internalUser, Audience: "property-service",
		Operation: "getUserProperties", AuthorizedParty: "user-service"}, jwtauth.MaxSubjectTTL, time.Now())
	if err != nil {
		panic(err) // the request is fixed: only a broken signer fails
	}
	return http.Header{"X-Internal-Token": {s.token}, "X-Subject-Token": {tok}}
}

// profilesHeader is the profiles call's credential (the property
// service's) with a fresh subject token for member 1, as the exchange
// issues one.
func (s *system) profilesHeader() http.Header {
	tok, _, err := s.signer.SignSubject(jwtauth.SubjectRequest{Subject: "1", Audience: "user-service",
		Operation: "getUserProfiles", AuthorizedParty: "property-service"}, jwtauth.MaxSubjectTTL, time.Now())
	if err != nil {
		panic(err) // the request is fixed: only a broken signer fails
	}
	return http.Header{"X-Internal-Token": {s.token + "-property"}, "X-Subject-Token": {tok}, "Content-Type": {"application/json"}}
}

func (s *system) bearerHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + s.bearer}}
}

func (s *system) stop() {
	for _, srv := range []*server{s.service, s.limit, s.bare, s.noPlans, s.slogLines, s.unguarded, s.noBudgets, s.noMetrics, s.profiles} {
		if srv != nil {
			srv.proc.Stop()
		}
	}
	s.user.Stop()
}

// still is the environment every measured process runs in.
func still(env map[string]string) map[string]string {
	// cpu.rdtscp=off: the runtime reads the clock with RDTSCP when a lock it
	// sleeps on is contended, an instruction this valgrind does not know
	// (SIGILL, the process dies at a random start-up); RDTSC does the same job.
	env["GOMAXPROCS"], env["GODEBUG"] = "1", "asyncpreemptoff=1,cpu.rdtscp=off"
	return env
}

// underCallgrind starts bin under callgrind with instrumentation off (start-up
// is not measured and runs several times faster so) and switches it on once
// the process answers.
func underCallgrind(dir, name, bin string, env map[string]string, nAddrs int, setup func(addrs []string)) (*server, error) {
	addrs, err := procs.FreeAddrs(nAddrs)
	if err != nil {
		return nil, fmt.Errorf("addresses for %s: %w", name, err)
	}
	setup(addrs)
	out := filepath.Join(dir, name+".callgrind")
	argv := []string{"valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out, bin}
	// Valgrind starts a Go binary slowly: health is asked with a patient client.
	p, err := procs.StartCommand(name, argv, still(env), &http.Client{Timeout: 10 * time.Second}, "http://"+addrs[0]+"/healthz")
	if err != nil {
		return nil, err
	}
	s := &server{name: name, proc: p, out: out, addrs: addrs}
	if err := s.control("-i", "on"); err != nil {
		p.Stop()
		return nil, err
	}
	return s, nil
}

func start(o options, dir, propDB string, bins binaries) (*system, error) {
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	s := &system{token: hex.EncodeToString(tok[:])}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()
	userAddrs, err := procs.FreeAddrs(2)
	if err != nil {
		return nil, err
	}
	jwks := "http://" + userAddrs[0] + "/.well-known/jwks.json"
	budgets := func(env map[string]string) map[string]string {
		// Far above what the bench sends: the budgets are spent on every call, never refused.
		env["REQUEST_LIMIT"], env["INTERNAL_REQUEST_LIMIT"] = "1000000000/1m", "1000000000/1m"
		// The per-(operation, subject) budget too: every call here is for one user.
		env["INTERNAL_SUBJECT_LIMIT"] = "1000000000/1m"
		return env
	}
	service := func(name, bin string, extra ...string) (*server, error) {
		env := budgets(map[string]string{"PROPERTY_DATABASE_URL": propDB, "INTERNAL_SERVICE_TOKEN": s.token, "JWT_JWKS_URL": jwks,
			"PROPERTY_SERVICE_TOKEN": s.token + "-property", "PPROF": "on"})
		for i := 0; i+1 < len(extra); i += 2 {
			env[extra[i]] = extra[i+1]
		}
		srv, err := underCallgrind(dir, name, bin, env, 3, func(a []string) {
			env["PROPERTY_PUBLIC_ADDR"], env["PROPERTY_INTERNAL_ADDR"], env["PROPERTY_ADMIN_ADDR"] = a[0], a[1], a[2]
		})
		if srv != nil {
			srv.gc = srv.base(2) + "/debug/pprof/heap?gc=1"
		}
		return srv, err
	}
	if s.service, err = service("property-service", o.propertyBin); err != nil {
		return nil, err
	}
	if s.user, err = procs.Start("user-service", o.userBin, budgets(map[string]string{"USER_PUBLIC_ADDR": userAddrs[0],
		"USER_ADMIN_ADDR": userAddrs[1], "USER_DATABASE_URL": "sqlite:" + filepath.Join(dir, "user.db"),
		"INTERNAL_SERVICE_TOKEN": s.token, "PROPERTY_SERVICE_URL": s.service.base(1),
		"PROPERTY_SERVICE_TOKEN": s.token + "-property", "USER_INTERNAL_ADDR": "127.0.0.1:0",
		"JWT_SIGNING_KEY_FILE": filepath.Join(dir, "key.pem")}), "http://"+userAddrs[0]+"/healthz"); err != nil {
		return nil, err
	}
	if s.bearer, err = login("http://" + userAddrs[0]); err != nil {
		return nil, err
	}
	key, err := jwtauth.LoadOrCreateKey(filepath.Join(dir, "key.pem")) // the user service created it
	if err != nil {
		return nil, err
	}
	s.signer = jwtauth.NewSigner(key, nil, jwtauth.Settings{Issuer: "jeeves4service", Audience: "jeeves4service"}, time.Hour)
	if s.noPlans, err = service("property-service-kin-openapi", bins.noPlans); err != nil {
		return nil, err
	}
	if s.slogLines, err = service("property-service-slog-lines", bins.slogLines); err != nil {
		return nil, err
	}
	if s.noBudgets, err = service("property-service-no-budgets", o.propertyBin, "REQUEST_LIMIT", "off", "INTERNAL_REQUEST_LIMIT", "off",
		"INTERNAL_SUBJECT_LIMIT", "off"); err != nil {
		return nil, err
	}
	if s.noMetrics, err = service("property-service-no-metrics", o.propertyBin, "METRICS", "off"); err != nil {
		return nil, err
	}
	if s.profiles, err = profilesService(dir, o.userBin, s.token, budgets); err != nil {
		return nil, err
	}
	gc := fmt.Sprint(lifecycle.DefaultGCPercent) // the services' own GC setting
	lenv := map[string]string{"LIMIT_DATABASE_URL": propDB, "INTERNAL_SERVICE_TOKEN": s.token, "LIMIT_JWKS_URL": jwks, "GOGC": gc}
	if s.limit, err = underCallgrind(dir, "limit", bins.limit, lenv, 1, func(a []string) { lenv["LIMIT_ADDR"] = a[0] }); err != nil {
		return nil, err
	}
	benv := map[string]string{"LIMIT_DATABASE_URL": propDB, "INTERNAL_SERVICE_TOKEN": s.token, "LIMIT_JWKS_URL": jwks, "LIMIT_AUDIT": "off",
		"GOGC": gc}
	if s.bare, err = underCallgrind(dir, "limit-bare", bins.limit, benv, 1, func(a []string) { benv["LIMIT_ADDR"] = a[0] }); err != nil {
		return nil, err
	}
	uenv := map[string]string{"BASELINE_DATABASE_URL": propDB, "BASELINE_USER_ID": "1", "GOGC": gc}
	if s.unguarded, err = underCallgrind(dir, "unguarded", bins.baseline, uenv, 2, func(a []string) {
		uenv["BASELINE_INTERNAL_ADDR"], uenv["BASELINE_PUBLIC_ADDR"] = a[0], a[1]
	}); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// binaries are the ones this run builds itself.
type binaries struct {
	limit, baseline, noPlans, slogLines string
}

func build(dir string) (binaries, error) {
	b := binaries{limit: filepath.Join(dir, "limit"), baseline: filepath.Join(dir, "baseline"), noPlans: filepath.Join(dir, "property-service-kin-openapi"),
		slogLines: filepath.Join(dir, "property-service-slog-lines")}
	for _, c := range [][]string{
		{"-o", b.limit, "./tools/bench/limit"},
		{"-o", b.baseline, "./tools/bench/baseline"},
		{"-o", b.noPlans, "-ldflags=-X=github.com/jeeves4service/jeeves4service/services/common/validator.compiledPlans=off", propertyPkg},
		{"-o", b.slogLines, "-ldflags=-X=github.com/jeeves4service/jeeves4service/services/common/logging.directLines=off", propertyPkg},
	} {
		cmd := exec.Command("go", append([]string{"build"}, c...)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go build %v: %w", c, err)
		}
	}
	return b, nil
}

const propertyPkg = "./services/property/cmd/property-service"

// login registers the first user (id 1, owner of properties 1 to 3 in the
// seeded database) and returns its access token.
func login(base string) (string, error) {
	const email, password = "bench@example.com", "bench password 1234"
	if err := post(base+"/api/users/register", map[string]string{"email": email, "password": password,
		"first_name": "Bench", "last_name": "User"}, nil); err != nil {
		return "", err
	}
	// The token is the same size in every run only when it carries the user's
	// property claims; at login the user service asks the property service
	// (slow under callgrind) for them within a deadline, and signs a token
	// without them when it passes. Such a token is refused here and asked for again.
	for try := 0; try < 10; try++ {
		var sess struct{ Token string }
		if err := post(base+"/api/users/authenticate", map[string]string{"email": email, "password": password}, &sess); err != nil {
			return "", err
		}
		if withClaims(sess.Token) {
			return sess.Token, nil
		}
		time.Sleep(time.Second)
	}
	return "", errors.New("login: ten tokens without the property claims (the property service under callgrind answered too late)")
}

// withClaims reports whether a JWT's payload says its property claims are included.
func withClaims(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Included bool `json:"properties_included"`
	}
	return json.Unmarshal(payload, &c) == nil && c.Included
}

func post(url string, body, into any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: status %d", url, resp.StatusCode)
	}
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			return fmt.Errorf("POST %s: %w", url, err)
		}
	}
	return nil
}

// profilesService starts the user service under callgrind on a database of
// its own, seeded (seedProfiles), with the key the driver signs subject
// tokens with.
func profilesService(dir, bin, token string, budgets func(map[string]string) map[string]string) (*server, error) {
	url := "sqlite:" + filepath.Join(dir, "profiles.db")
	if err := seedProfiles(context.Background(), url); err != nil {
		return nil, err
	}
	env := budgets(map[string]string{"USER_DATABASE_URL": url, "INTERNAL_SERVICE_TOKEN": token,
		"PROPERTY_SERVICE_URL": "http://127.0.0.1:1", "PROPERTY_SERVICE_TOKEN": token + "-property", "PPROF": "on",
		"JWT_SIGNING_KEY_FILE": filepath.Join(dir, "key.pem")})
	srv, err := underCallgrind(dir, "user-service-profiles", bin, env, 3, func(a []string) {
		env["USER_PUBLIC_ADDR"], env["USER_INTERNAL_ADDR"], env["USER_ADMIN_ADDR"] = a[0], a[1], a[2]
	})
	if srv != nil {
		srv.gc = srv.base(2) + "/debug/pprof/heap?gc=1"
	}
	return srv, err
}

// seedProfiles migrates a fresh user database and fills it: users 1 to
// profilesMembers, all seen as members of property profilesProperty now
// (as their logins would have recorded it).
func seedProfiles(ctx context.Context, url string) error {
	db, _, err := database.Open(ctx, url, "user", nil)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed profiles: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().Unix()
	for u := 1; u <= profilesMembers; u++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, first_name, last_name, is_admin, is_active,
			created_at, updated_at, email_canonical) VALUES (?, ?, 'x', 'Bench', ?, FALSE, TRUE, ?, ?, TRUE)`,
			u, fmt.Sprintf("member%d@example.com", u), fmt.Sprintf("Member %d", u), now, now); err != nil {
			return fmt.Errorf("seed user %d: %w", u, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO seen_memberships (property_id, user_id, seen_at, first_seen_at)
			VALUES (?, ?, ?, ?)`, profilesProperty, u, now, now); err != nil {
			return fmt.Errorf("seed membership %d: %w", u, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed profiles: %w", err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

const (
	profilesMembers  = 500
	profilesProperty = 7
	profilesPath     = "/api/internal/users/1/properties/7/profiles"
)

// profilesBody asks for the first n members' profiles.
func profilesBody(n int) func() []byte {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i + 1
	}
	body, err := json.Marshal(map[string]any{"user_ids": ids})
	if err != nil {
		panic(err) // a list of ints always encodes
	}
	return func() []byte { return body }
}
