//go:build cluster

package cluster

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/tools/procs"
)

// TestReplicasBehindHAProxy: two user-service and two property-service
// processes on one PostgreSQL and one Redis, behind HAProxy with the shipped
// configuration, under a steady mixed load, while one replica of each is
// killed (SIGKILL) and brought back, all four are restarted one at a time
// (SIGTERM) and the JWT signing key is rotated across the user replicas.
func TestReplicasBehindHAProxy(t *testing.T) {
	bin, pg, redis := os.Getenv("SERVICE_BIN"), os.Getenv("TEST_POSTGRES_URL"), os.Getenv("TEST_REDIS_URL")
	haproxy, err := exec.LookPath("haproxy")
	if bin == "" || pg == "" || redis == "" || err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("make cluster-test needs SERVICE_BIN, TEST_POSTGRES_URL, TEST_REDIS_URL and haproxy in CI")
		}
		t.Skip("cluster test not run: it needs haproxy, PostgreSQL and Redis (TEST_POSTGRES_URL, TEST_REDIS_URL): make cluster-test")
	}
	c := startCluster(t, bin, haproxy, pg, redis)

	// Four users, each with a first property, so logins carry claims.
	var users []*account
	for i := 0; i < 4; i++ {
		users = append(users, c.newAccount(t, fmt.Sprintf("replica-user-%d@example.com", i)))
	}

	load := c.startLoad(users)
	pause := func() { time.Sleep(3 * time.Second) }
	pause()

	// A crash of one replica of each service, and its return.
	for _, name := range []string{"user-1", "property-1"} {
		c.kill(t, name)
		pause()
		c.start(t, name)
		pause()
	}

	// Key rotation, phase 1, folded into a rolling restart of all four: the
	// user replicas come back publishing the next key (not yet signing with
	// it), so that whichever replica a property replica fetches the JWKS
	// from, the next key is in it before any token is signed with it.
	oldPub, nextKey, nextPub := c.keyFiles(t)
	c.rotateEnv("JWT_RETIRED_PUBLIC_KEY_FILES", nextPub)
	for _, name := range []string{"user-1", "user-2", "property-1", "property-2"} {
		c.restart(t, name)
	}
	pause()
	// Phase 2: each user replica signs with the next key and keeps
	// publishing the old one, whose tokens are still live.
	c.rotateEnv("JWT_SIGNING_KEY_FILE", nextKey)
	c.rotateEnv("JWT_RETIRED_PUBLIC_KEY_FILES", oldPub)
	for _, name := range []string{"user-1", "user-2"} {
		c.restart(t, name)
	}
	pause()
	r := load.stop()

	// Every answer was 2xx, or a 5xx of a request in flight on a killed process.
	t.Logf("requests %d (logins %d, reads %d, writes %d, internal calls %d), kills %d, restarts %d",
		r.total, r.byOp["login"], r.byOp["read"], r.byOp["write"], r.byOp["internal"], len(c.kills), c.restarts)
	for _, f := range r.failures {
		if (f.status == 0 || f.status >= 500) && c.inFlightAtKill(f) {
			r.inFlight++
			continue
		}
		t.Errorf("%s %s: status %d (%v) from %s to %s, not in flight at a kill", f.op, f.target, f.status, f.err,
			f.start.Format("15:04:05.000"), f.end.Format("15:04:05.000"))
	}
	if r.total < 200 || r.byOp["login"] < 20 || r.byOp["write"] < 20 {
		t.Errorf("too little load to show anything: %v", r.byOp)
	}

	// Every login's token verified at every property replica that was up,
	// through the rotation: tokens of both keys were seen.
	t.Logf("login tokens %d, verified at a property replica %d times, refused %d; kids seen %v",
		r.tokens, r.verified, len(r.refused), r.kids)
	for _, e := range r.refused {
		t.Errorf("a login token was refused by a property replica: %s", e)
	}
	if len(r.kids) < 2 || r.verified < r.tokens {
		t.Errorf("the rotation did not show: %d kids, %d verifications for %d tokens", len(r.kids), r.verified, r.tokens)
	}

	// No acknowledged write lost: each created property is there, read back
	// through the load balancer.
	lost := 0
	for _, w := range r.writes {
		got := testenv.Do(t, "GET", c.propertyURL+"/api/property/"+fmt.Sprint(w.id), nil, testenv.Bearer(w.owner.token)...)
		var p struct{ Name string }
		if got.Status == 200 {
			got.JSON(t, &p)
		}
		if got.Status != 200 || p.Name != w.name {
			lost++
			t.Errorf("acknowledged write %d (%q) reads back as %d %q", w.id, w.name, got.Status, p.Name)
		}
	}

	// Failure budgets are shared through Redis: wrong passwords sent round
	// robin over both user replicas add up to one budget of 5 (then 429), and
	// each replica, asked directly, refuses that email.
	// (An account outside the load: a login in flight on a killed replica
	// keeps the budget unit it took before hashing, failing closed.)
	victim := c.newAccount(t, "replica-victim@example.com").email
	statuses := []int{}
	for i := 0; i < 7; i++ {
		got := testenv.Do(t, "POST", c.userURL+"/api/users/authenticate", map[string]string{"email": victim, "password": "wrong password 1234"})
		statuses = append(statuses, got.Status)
	}
	want := []int{401, 401, 401, 401, 401, 429, 429}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Errorf("wrong passwords through HAProxy: %v, want %v", statuses, want)
	}
	for _, name := range []string{"user-1", "user-2"} {
		got := testenv.Do(t, "POST", c.replicas[name].public+"/api/users/authenticate",
			map[string]string{"email": victim, "password": benchPassword})
		if got.Status != 429 {
			t.Errorf("%s directly, after the shared budget was spent: %d, want 429", name, got.Status)
		}
	}
	spoofed := spoofedForwardedFor(t, c)

	fmt.Printf("cluster-test: requests %d (logins %d, reads %d, writes %d, internal %d); kills %d, restarts %d; "+
		"5xx in flight on killed processes %d, other 5xx %d; writes acknowledged %d, lost %d; "+
		"login tokens %d, property-replica verifications %d, refused %d, signing keys seen %d; shared budget %v; "+
		"spoofed X-Forwarded-For: refused after %d\n",
		r.total, r.byOp["login"], r.byOp["read"], r.byOp["write"], r.byOp["internal"], len(c.kills), c.restarts,
		r.inFlight, len(r.failures)-r.inFlight, len(r.writes), lost, r.tokens, r.verified, len(r.refused), len(r.kids), statuses,
		spoofed)
}

// spoofedForwardedFor: a client that writes its own X-Forwarded-For, a new
// address in each request, must still be the address HAProxy saw, or it gets
// a fresh failed-login budget per request (and chooses the IP the audit
// lines show). The replicas trust HAProxy (127.0.0.1); the client connects
// from 127.0.0.2, as a client on another host would, and fails logins for
// unknown emails (one per request, so only the IP budget counts). It returns
// how many were answered 401 before the first 429: the IP budget, 20.
func spoofedForwardedFor(t *testing.T, c *cluster) int {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	for i := 0; i < 30; i++ {
		got := testenv.DoWith(t, client, "POST", c.userURL+"/api/users/authenticate",
			map[string]string{"email": fmt.Sprintf("nobody-%d@example.com", i), "password": "wrong password 1234"},
			"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		switch {
		case got.Status == 429 && i == 20:
			return i
		case got.Status != 401:
			t.Errorf("spoofed X-Forwarded-For, attempt %d: %d, want 401 for the first 20 then 429", i+1, got.Status)
			return i
		}
	}
	t.Errorf("30 failed logins from one client with a new X-Forwarded-For each: never refused (its budget is 20)")
	return 30
}

const benchPassword = "replica password 1234"

// cluster is the running system: the replicas, HAProxy's three frontends.
type cluster struct {
	dir                               string
	replicas                          map[string]*replica
	userURL, propertyURL, internalURL string
	token                             string // the internal token every replica shares
	mu                                sync.Mutex
	kills                             [][2]time.Time // from the signal to the process's end
	restarts                          int
	userEnv                           map[string]string // shared by both user replicas (the signing key)
	stats                             string            // HAProxy's stats as CSV
}

type replica struct {
	name, bin      string
	env            map[string]string
	public, health string
	proc           *procs.Proc
	down           atomic.Bool
}

func startCluster(t *testing.T, bin, haproxy, pg, redis string) *cluster {
	dir := t.TempDir()
	addrs, err := procs.FreeAddrs(11)
	if err != nil {
		t.Fatal(err)
	}
	var tok [32]byte
	_, _ = rand.Read(tok[:])
	c := &cluster{dir: dir, replicas: map[string]*replica{}, token: base64.RawURLEncoding.EncodeToString(tok[:]),
		userURL: "http://" + addrs[0], propertyURL: "http://" + addrs[1], internalURL: "http://" + addrs[2]}
	prefix := fmt.Sprintf("cluster-%d:", time.Now().UnixNano())
	// The settings every replica shares: one database per service, one Redis
	// namespace, one internal token; request budgets far above the load.
	common := map[string]string{"REDIS_URL": redis, "REDIS_KEY_PREFIX": prefix, "INTERNAL_SERVICE_TOKEN": c.token,
		"PROPERTY_SERVICE_TOKEN": c.token + "-property", // the other direction's: the property service's own
		"REQUEST_LIMIT":          "1000000/1m", "INTERNAL_REQUEST_LIMIT": "1000000/1m", "INTERNAL_SUBJECT_LIMIT": "1000000/1m", "REGISTER_LIMIT_PER_IP": "100/1h",
		"TRUSTED_PROXIES": "127.0.0.1/32", "INTERNAL_TRUSTED_PROXIES": "127.0.0.1/32", // HAProxy fronts both
		// Longer than HAProxy takes to see /readyz fail (2 checks 500 ms apart): see deploy/haproxy.
		"SHUTDOWN_DELAY": "3s"}
	userDB, propertyDB := testenv.FreshPostgres(t, pg), testenv.FreshPostgres(t, pg)
	c.userEnv = merge(common, map[string]string{"USER_DATABASE_URL": userDB, "PROPERTY_SERVICE_URL": c.internalURL,
		"JWT_SIGNING_KEY_FILE": filepath.Join(dir, "signing-1.pem")})
	propertyEnv := merge(common, map[string]string{"PROPERTY_DATABASE_URL": propertyDB,
		"JWT_JWKS_URL": c.userURL + "/.well-known/jwks.json", "JWT_JWKS_REFRESH": "5s"})
	for i := 1; i <= 2; i++ {
		u, p, in := addrs[2+i], addrs[4+i], addrs[6+i]
		admin, err := procs.FreeAddrs(3)
		if err != nil {
			t.Fatal(err)
		}
		a1, a2, userInternal := admin[0], admin[1], admin[2]
		c.replicas[fmt.Sprintf("user-%d", i)] = &replica{name: fmt.Sprintf("user-%d", i), bin: filepath.Join(bin, "user-service"),
			env:    map[string]string{"USER_PUBLIC_ADDR": u, "USER_ADMIN_ADDR": a1, "USER_INTERNAL_ADDR": userInternal},
			public: "http://" + u, health: "http://" + u + "/readyz"}
		// Each property replica asks its user replica for names (the other direction, not behind HAProxy).
		propertyEnv["USER_SERVICE_INTERNAL_URL"] = "http://" + userInternal
		c.replicas[fmt.Sprintf("property-%d", i)] = &replica{name: fmt.Sprintf("property-%d", i), bin: filepath.Join(bin, "property-service"),
			env:    map[string]string{"PROPERTY_PUBLIC_ADDR": p, "PROPERTY_INTERNAL_ADDR": in, "PROPERTY_ADMIN_ADDR": a2},
			public: "http://" + p, health: "http://" + in + "/readyz"}
		for k, v := range propertyEnv {
			c.replicas[fmt.Sprintf("property-%d", i)].env[k] = v
		}
	}
	c.stats = "http://" + addrs[9] + "/stats;csv"
	// HAProxy first: the property replicas fetch the JWKS through it.
	testenv.Program(t, "haproxy", []string{"USER_FRONTEND=" + addrs[0], "PROPERTY_FRONTEND=" + addrs[1],
		"INTERNAL_FRONTEND=" + addrs[2], "USER_1=" + addrs[3], "USER_2=" + addrs[4], "PROPERTY_1=" + addrs[5],
		"PROPERTY_2=" + addrs[6], "PROPERTY_INTERNAL_1=" + addrs[7], "PROPERTY_INTERNAL_2=" + addrs[8], "HAPROXY_STATS=" + addrs[9]},
		haproxy, "-db", "-f", filepath.Join("..", "..", "deploy", "haproxy", "haproxy.cfg"))
	// One replica at a time: the first runs the migrations and creates the signing key.
	for _, name := range []string{"user-1", "user-2", "property-1", "property-2"} {
		c.start(t, name)
	}
	t.Cleanup(func() {
		for _, r := range c.replicas {
			if r.proc != nil {
				if t.Failed() {
					t.Logf("%s:\n%s", r.name, r.proc.Tail())
				}
				r.proc.Stop()
			}
		}
	})
	c.waitBalanced(t)
	return c
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// start runs a replica and waits until it is ready and HAProxy sends it traffic.
func (c *cluster) start(t *testing.T, name string) {
	t.Helper()
	r := c.replicas[name]
	env := r.env
	if strings.HasPrefix(name, "user-") {
		c.mu.Lock()
		env = merge(c.userEnv, r.env)
		c.mu.Unlock()
	}
	p, err := procs.Start(name, r.bin, env, r.health)
	if err != nil {
		t.Fatal(err)
	}
	r.proc = p
	t.Logf("%s started %s", time.Now().Format("15:04:05.000"), name)
	c.waitUp(t, name)
	r.down.Store(false)
}

// waitUp waits until HAProxy's stats show every server called name (one per
// backend it serves) UP: after two good checks 500 ms apart.
func (c *cluster) waitUp(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !serversUp(c.stats, name) {
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy did not mark %s up within 15 s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serversUp reads HAProxy's stats CSV (a header row "# pxname,svname,...,
// status,..." then a row per frontend, server and backend).
func serversUp(statsURL, name string) bool {
	resp, err := http.Get(statsURL)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		return false
	}
	status := slices.Index(rows[0], "status")
	seen := 0
	for _, row := range rows[1:] {
		if status > 0 && len(row) > status && row[1] == name {
			if row[status] != "UP" {
				return false
			}
			seen++
		}
	}
	return seen > 0
}

// kill ends a replica with SIGKILL, as a crash would, and notes from when
// to when it was dying: a request sent to it in that time dies with it.
func (c *cluster) kill(t *testing.T, name string) {
	t.Logf("%s SIGKILL %s", time.Now().Format("15:04:05.000"), name)
	r := c.replicas[name]
	r.down.Store(true)
	start := time.Now()
	r.proc.Kill()
	r.proc = nil
	c.mu.Lock()
	c.kills = append(c.kills, [2]time.Time{start, time.Now()})
	c.mu.Unlock()
}

// restart stops a replica gracefully (SIGTERM: in-flight requests finish) and starts it again.
func (c *cluster) restart(t *testing.T, name string) {
	t.Logf("%s SIGTERM %s", time.Now().Format("15:04:05.000"), name)
	r := c.replicas[name]
	r.down.Store(true)
	r.proc.Stop()
	r.proc = nil
	c.start(t, name)
	c.mu.Lock()
	c.restarts++
	c.mu.Unlock()
}

func (c *cluster) rotateEnv(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.userEnv[k] = v
}

// keyFiles writes the current key's public half, a next signing key and its public half.
func (c *cluster) keyFiles(t *testing.T) (oldPub, next, nextPub string) {
	data, err := os.ReadFile(c.userEnv["JWT_SIGNING_KEY_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	oldPub = c.writePEM(t, "signing-1.pub.pem", "PUBLIC KEY", mustPKIX(t, key.(ed25519.PrivateKey).Public()))
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return oldPub, c.writePEM(t, "signing-2.pem", "PRIVATE KEY", der), c.writePEM(t, "signing-2.pub.pem", "PUBLIC KEY", mustPKIX(t, pub))
}

func mustPKIX(t *testing.T, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (c *cluster) writePEM(t *testing.T, name, kind string, der []byte) string {
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitBalanced waits until HAProxy reaches all four replicas (health checks passed).
func (c *cluster) waitBalanced(t *testing.T) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := 0
		for i := 0; i < 4; i++ {
			if r, err := testenv.Try("GET", c.userURL+"/readyz", nil); err == nil && r.Status == 200 {
				ok++
			}
			if r, err := testenv.Try("GET", c.propertyURL+"/readyz", nil); err == nil && r.Status == 200 {
				ok++
			}
		}
		if ok == 8 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("HAProxy does not reach the replicas")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// inFlightAtKill reports whether a failed request was in flight while a
// process was being killed (their times overlap).
func (c *cluster) inFlightAtKill(f outcome) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.kills {
		if !f.start.After(k[1]) && !f.end.Before(k[0]) {
			return true
		}
	}
	return false
}

// account is a registered user with a live access token.
type account struct {
	email, token string
	id           int64
}

func (c *cluster) newAccount(t *testing.T, email string) *account {
	got := testenv.Do(t, "POST", c.userURL+"/api/users/register", map[string]string{"email": email, "password": benchPassword,
		"first_name": "Replica", "last_name": "User"})
	var u struct{ ID int64 }
	got.JSON(t, &u)
	a := &account{email: email, id: u.ID}
	a.token = c.login(t, email)
	var p struct{ ID int64 }
	testenv.Do(t, "POST", c.propertyURL+"/api/properties/", map[string]string{"name": "First home"}, testenv.Bearer(a.token)...).
		JSON(t, &p)
	// Signed in again, the owner has been seen in the new home by the user
	// service, whose profiles call answers only about what it has seen.
	a.token = c.login(t, email)
	// The other direction: the member list by name, from a user replica's internal listener.
	var members struct {
		NamesIncluded bool `json:"names_included"`
		Members       []struct {
			DisplayName string `json:"display_name"`
		} `json:"members"`
	}
	testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/members", c.propertyURL, p.ID), nil, testenv.Bearer(a.token)...).
		JSON(t, &members)
	if !members.NamesIncluded || len(members.Members) != 1 || members.Members[0].DisplayName != "Replica User" {
		t.Fatalf("the member list by name: %+v", members)
	}
	return a
}

func (c *cluster) login(t *testing.T, email string) string {
	got := testenv.Do(t, "POST", c.userURL+"/api/users/authenticate", map[string]string{"email": email, "password": benchPassword})
	var s struct{ Token string }
	got.JSON(t, &s)
	return s.Token
}

// outcome is one request of the load.
type outcome struct {
	op, target string
	status     int // 0: no answer
	err        error
	start, end time.Time
}

type write struct {
	id    int64
	name  string
	owner *account
}

type results struct {
	mu               sync.Mutex
	total            int
	byOp             map[string]int
	failures         []outcome // not 2xx, or not as the contract says
	inFlight         int       // of those, in flight at a kill
	writes           []write   // acknowledged (201)
	tokens, verified int
	refused          []string
	kids             map[string]bool // the signing keys of the login tokens
	stopped          atomic.Bool
	wg               sync.WaitGroup
}

type loadRun struct{ r *results }

func (l loadRun) stop() *results {
	l.r.stopped.Store(true)
	l.r.wg.Wait()
	return l.r
}

func (r *results) record(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	r.byOp[o.op]++
	if o.err != nil || o.status >= 400 {
		r.failures = append(r.failures, o)
	}
}

// startLoad runs, until stopped, logins (each token then verified directly
// at both property replicas), reads and writes through the property
// frontend, and internal calls through the internal frontend.
func (c *cluster) startLoad(users []*account) loadRun {
	r := &results{byOp: map[string]int{}, kids: map[string]bool{}}
	send := func(op, method, url string, body any, headers ...string) (testenv.Response, bool) {
		o := outcome{op: op, target: url, start: time.Now()}
		resp, err := testenv.Try(method, url, body, headers...)
		o.end, o.status, o.err = time.Now(), resp.Status, err
		r.record(o)
		return resp, err == nil && resp.Status < 300
	}
	worker := func(i int, f func(i, n int)) {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for n := 0; !r.stopped.Load(); n++ {
				f(i, n)
			}
		}()
	}
	for i := 0; i < 2; i++ {
		worker(i, func(i, n int) {
			a := users[(i+2*n)%len(users)]
			resp, ok := send("login", "POST", c.userURL+"/api/users/authenticate", map[string]string{"email": a.email, "password": benchPassword})
			if !ok {
				return
			}
			var s struct{ Token string }
			if json.Unmarshal(resp.Body, &s) != nil {
				return
			}
			c.verifyEverywhere(r, s.Token)
		})
	}
	for i := 0; i < 2; i++ {
		worker(i, func(i, n int) {
			send("read", "GET", c.propertyURL+"/api/properties/", nil, testenv.Bearer(users[(i+n)%len(users)].token)...)
		})
	}
	worker(0, func(_, n int) {
		a := users[n%len(users)]
		name := fmt.Sprintf("Home %d of %s", n, a.email)
		resp, ok := send("write", "POST", c.propertyURL+"/api/properties/", map[string]string{"name": name}, testenv.Bearer(a.token)...)
		var p struct{ ID int64 }
		if ok && json.Unmarshal(resp.Body, &p) == nil {
			r.mu.Lock()
			r.writes = append(r.writes, write{id: p.ID, name: name, owner: a})
			r.mu.Unlock()
		}
	})
	worker(0, func(_, n int) {
		id := users[n%len(users)].id
		send("internal", "GET", fmt.Sprintf("%s/api/internal/properties/users/%d", c.internalURL, id), nil,
			"X-Internal-Token", c.token, internalauth.SubjectHeader, c.subjectToken(id))
		time.Sleep(5 * time.Millisecond)
	})
	return loadRun{r}
}

// subjectToken is a subject token for userID's claims call, signed with the
// user service's current key as the user service mints it (the test stands
// in for the user service on the internal call). "" when the key cannot be
// read: the call is then refused (401) and counted as the failure it is.
func (c *cluster) subjectToken(userID int64) string {
	key, err := jwtauth.LoadOrCreateKey(c.userEnv["JWT_SIGNING_KEY_FILE"])
	if err != nil {
		return ""
	}
	tok, _, _ := jwtauth.NewSigner(key, nil, jwtauth.Settings{Issuer: "jeeves4service"}, time.Hour).SignSubject(
		jwtauth.SubjectRequest{Subject: fmt.Sprint(userID), Audience: "property-service", Operation: "getUserProperties",
			AuthorizedParty: "user-service"}, 30*time.Second, time.Now())
	return tok
}

// verifyEverywhere presents a fresh login token to each property replica
// directly (not through HAProxy), skipping one that is down.
func (c *cluster) verifyEverywhere(r *results, token string) {
	header, _, _ := strings.Cut(token, ".")
	var h struct{ Kid string }
	if data, err := base64.RawURLEncoding.DecodeString(header); err == nil {
		_ = json.Unmarshal(data, &h)
	}
	r.mu.Lock()
	r.tokens++
	r.kids[h.Kid] = true
	r.mu.Unlock()
	for _, name := range []string{"property-1", "property-2"} {
		p := c.replicas[name]
		if p.down.Load() {
			continue
		}
		got, err := testenv.Try("GET", p.public+"/api/properties/", nil, testenv.Bearer(token)...)
		r.mu.Lock()
		switch {
		case err == nil && got.Status == 200:
			r.verified++
		case err != nil && p.down.Load():
			// stopped while we asked: not a verdict on the token
		default:
			r.refused = append(r.refused, fmt.Sprintf("%s (kid %s): %d %v %s", name, h.Kid, got.Status, err, got.Body))
		}
		r.mu.Unlock()
	}
}
