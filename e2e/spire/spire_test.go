//go:build spire

package spire

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/tools/procs"
)

const trustDomain = "spire.test"

// TTLs short enough that the agent rotates both services' X.509-SVIDs (at
// half life) while the test runs, and JWT-SVIDs are renewed many times.
const (
	x509TTL = 40 * time.Second
	jwtTTL  = 30 * time.Second
)

// spire is a running SPIRE server and agent.
type spire struct {
	bin, dir, serverSock, agentSock string
}

func (s *spire) server(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, "spire-server"), append(args, "-socketPath", s.serverSock)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("spire-server %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startSPIRE runs a server (sqlite datastore, memory key manager, join-token
// node attestation) and an agent (unix workload attestation, which tells the
// two services apart by their binaries' paths).
func startSPIRE(t *testing.T, bin string) *spire {
	// Unix socket paths are short (108 bytes): a directory of our own under /tmp.
	dir, err := os.MkdirTemp("/tmp", "spire")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &spire{bin: bin, dir: dir, serverSock: filepath.Join(dir, "server.sock"), agentSock: filepath.Join(dir, "agent.sock")}
	port := strings.TrimPrefix(mustFree(t), "127.0.0.1:")
	write(t, filepath.Join(dir, "server.conf"), fmt.Sprintf(`server {
  bind_address = "127.0.0.1"
  bind_port = "%[1]s"
  socket_path = "%[2]s"
  trust_domain = "%[3]s"
  data_dir = "%[4]s/server-data"
  log_level = "INFO"
  ca_ttl = "24h"
  default_x509_svid_ttl = "%[5]s"
  default_jwt_svid_ttl = "%[6]s"
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "%[4]s/datastore.sqlite3"
    }
  }
  KeyManager "memory" { plugin_data {} }
  NodeAttestor "join_token" { plugin_data {} }
}
`, port, s.serverSock, trustDomain, dir, x509TTL, jwtTTL))
	server := testenv.Program(t, "spire-server", nil, filepath.Join(bin, "spire-server"), "run", "-config", filepath.Join(dir, "server.conf"))
	waitFor(t, 60*time.Second, "the SPIRE server", func() bool {
		return exec.Command(filepath.Join(bin, "spire-server"), "healthcheck", "-socketPath", s.serverSock).Run() == nil
	}, server)

	out := s.server(t, "token", "generate", "-spiffeID", "spiffe://"+trustDomain+"/agent")
	m := regexp.MustCompile(`Token: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no join token in %q", out)
	}
	write(t, filepath.Join(dir, "agent.conf"), fmt.Sprintf(`agent {
  data_dir = "%[1]s/agent-data"
  log_level = "INFO"
  server_address = "127.0.0.1"
  server_port = "%[2]s"
  socket_path = "%[3]s"
  trust_domain = "%[4]s"
  insecure_bootstrap = true
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
  WorkloadAttestor "unix" {
    plugin_data {
      discover_workload_path = true
    }
  }
}
`, dir, port, s.agentSock, trustDomain))
	agent := testenv.Program(t, "spire-agent", nil, filepath.Join(bin, "spire-agent"), "run", "-config", filepath.Join(dir, "agent.conf"),
		"-joinToken", m[1])
	waitFor(t, 60*time.Second, "the SPIRE agent", func() bool {
		return exec.Command(filepath.Join(bin, "spire-agent"), "healthcheck", "-socketPath", s.agentSock).Run() == nil
	}, agent)
	return s
}

// register makes a registration entry: the workload whose binary is at
// path gets spiffe://spire.test/<name>.
func (s *spire) register(t *testing.T, name, path string) {
	s.server(t, "entry", "create", "-parentID", "spiffe://"+trustDomain+"/agent", "-spiffeID", "spiffe://"+trustDomain+"/"+name,
		"-selector", "unix:path:"+path, "-x509SVIDTTL", fmt.Sprint(int(x509TTL.Seconds())),
		"-jwtSVIDTTL", fmt.Sprint(int(jwtTTL.Seconds())))
}

func TestRealSPIRE(t *testing.T) {
	bin, services := os.Getenv("SPIRE_BIN"), os.Getenv("SERVICE_BIN")
	if bin == "" || services == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SPIRE_BIN and SERVICE_BIN must be set in CI (make spire sets them)")
		}
		t.Skip("SPIRE_BIN/SERVICE_BIN not set: run make spire")
	}
	s := startSPIRE(t, bin)
	userBin, propertyBin := filepath.Join(services, "user-service"), filepath.Join(services, "property-service")
	s.register(t, "user-service", userBin)
	s.register(t, "property-service", propertyBin)
	socket := "unix://" + s.agentSock

	addrs, err := procs.FreeAddrs(6)
	if err != nil {
		t.Fatal(err)
	}
	userURL, internal, userInternal := "http://"+addrs[0], "https://"+addrs[2], "https://"+addrs[5]
	data := t.TempDir()
	// An agent may take a few seconds to receive new entries: the services
	// wait for their first identity (identity.Open) before they listen.
	property, err := procs.Start("property-service", propertyBin, map[string]string{
		"INTERNAL_AUTH": "spiffe", "SPIFFE_ENDPOINT_SOCKET": socket,
		"PROPERTY_PUBLIC_ADDR": addrs[1], "PROPERTY_INTERNAL_ADDR": addrs[2], "PROPERTY_ADMIN_ADDR": addrs[3],
		"PROPERTY_DATABASE_URL": "sqlite:" + filepath.Join(data, "p.db"), "JWT_JWKS_URL": userURL + "/.well-known/jwks.json",
		"LOG_FLUSH_INTERVAL": "100ms", "USER_SERVICE_INTERNAL_URL": userInternal, // the other direction: names
	}, "http://"+addrs[1]+"/healthz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(property.Stop)
	user, err := procs.Start("user-service", userBin, map[string]string{
		"INTERNAL_AUTH": "spiffe", "SPIFFE_ENDPOINT_SOCKET": socket, "PROPERTY_SERVICE_URL": internal,
		"USER_PUBLIC_ADDR": addrs[0], "USER_ADMIN_ADDR": addrs[4], "USER_DATABASE_URL": "sqlite:" + filepath.Join(data, "u.db"),
		"USER_INTERNAL_ADDR":   addrs[5],
		"JWT_SIGNING_KEY_FILE": filepath.Join(data, "jwt.pem"), "LOG_FLUSH_INTERVAL": "100ms",
		// A login a second, each with a new access token, and each access
		// token its own exchange (the property service's subject tokens are
		// kept per access token): more than the default 10 a minute.
		"INTERNAL_EXCHANGE_LIMIT": "120/1m",
	}, userURL+"/healthz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(user.Stop)
	for p, name := range map[*procs.Proc]string{user: "user-service", property: "property-service"} {
		var lines []map[string]any
		for deadline := time.Now().Add(5 * time.Second); len(lines) == 0 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond) // INFO lines are flushed every LOG_FLUSH_INTERVAL
			lines = p.Lines("identity from the SPIFFE Workload API")
		}
		if len(lines) != 1 || lines[0]["spiffe_id"] != "spiffe://"+trustDomain+"/"+name {
			t.Fatalf("identity of %s: %v\n%s", name, lines, p.Tail())
		}
	}

	// The login story: the first login has no properties, the next one
	// carries the property created in between.
	const email, password = "ada@example.com", "correct horse battery staple"
	r := testenv.Do(t, "POST", userURL+"/api/users/register", map[string]string{"email": email, "password": password,
		"first_name": "Ada", "last_name": "Lovelace"})
	if r.Status != 201 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	token := login(t, userURL, email, password, user, property)
	created := testenv.Do(t, "POST", "http://"+addrs[1]+"/api/properties/", map[string]string{"name": "Seaside cottage"},
		testenv.Bearer(token)...)
	if created.Status != 201 {
		t.Fatalf("create property: %d %s", created.Status, created.Body)
	}

	// Log in every second until both services have rotated their X.509-SVIDs
	// (and the user service has fetched several JWT-SVIDs); every login must
	// carry the claim, before, during and after.
	// The other direction on every round: the member list by name, from the
	// user service's internal listener, called with the property service's SVIDs.
	var pid struct{ ID int64 }
	created.JSON(t, &pid)
	namesShown := func(tok string) bool {
		var members struct {
			NamesIncluded bool `json:"names_included"`
			Members       []struct {
				DisplayName string `json:"display_name"`
			} `json:"members"`
		}
		testenv.Do(t, "GET", fmt.Sprintf("http://%s/api/property/%d/members", addrs[1], pid.ID), nil, testenv.Bearer(tok)...).
			JSON(t, &members)
		return members.NamesIncluded && len(members.Members) == 1 && members.Members[0].DisplayName == "Ada Lovelace"
	}
	deadline := time.Now().Add(3 * x509TTL)
	logins := 0
	for {
		tok := login(t, userURL, email, password, user, property)
		if !strings.Contains(propertyNames(t, tok), "Seaside cottage") {
			t.Fatalf("login %d has no property claim", logins)
		}
		if !namesShown(tok) {
			t.Fatalf("round %d: the member list has no names\n%s", logins, property.Tail())
		}
		logins++
		if len(user.Lines("identity rotated")) > 0 && len(property.Lines("identity rotated")) > 0 && logins >= 5 {
			// One more login after both rotations, then stop.
			if !strings.Contains(propertyNames(t, login(t, userURL, email, password, user, property)), "Seaside cottage") {
				t.Fatal("login after rotation has no property claim")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rotation within %v (user: %d, property: %d)\n%s\n%s", 3*x509TTL,
				len(user.Lines("identity rotated")), len(property.Lines("identity rotated")), user.Tail(), property.Tail())
		}
		time.Sleep(time.Second)
	}
	audits := property.Lines("internal call")
	if len(audits) < logins {
		t.Fatalf("%d audit lines for %d logins", len(audits), logins)
	}
	for _, a := range audits {
		if a["credential"] != "jwt-svid" || a["caller_id"] != "spiffe://"+trustDomain+"/user-service" || a["status"] != float64(200) {
			t.Fatalf("audit line %v", a)
		}
	}
	if n := len(property.Lines("internal call rejected")); n != 0 {
		t.Fatalf("%d internal calls rejected", n)
	}
	t.Logf("%d logins with claims across rotations (user service rotated %d times, property service %d times)", logins,
		len(user.Lines("identity rotated")), len(property.Lines("identity rotated")))
}

// login logs in and returns the access token; the login must carry claims.
func login(t *testing.T, userURL, email, password string, ps ...*procs.Proc) string {
	t.Helper()
	r := testenv.Do(t, "POST", userURL+"/api/users/authenticate", map[string]string{"email": email, "password": password})
	var out struct {
		Token              string `json:"token"`
		PropertiesIncluded bool   `json:"properties_included"`
	}
	if r.Status == 200 {
		r.JSON(t, &out)
	}
	if r.Status != 200 || !out.PropertiesIncluded {
		var tails []string
		for _, p := range ps {
			tails = append(tails, p.Tail())
		}
		t.Fatalf("login: %d %s\n%s", r.Status, r.Body, strings.Join(tails, "\n---\n"))
	}
	return out.Token
}

func waitFor(t *testing.T, within time.Duration, what string, ready func() bool, out *testenv.LogBuffer) {
	t.Helper()
	for deadline := time.Now().Add(within); !ready(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v:\n%s", what, within, testenv.Tail(out.String()))
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustFree(t *testing.T) string {
	t.Helper()
	a, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// propertyNames lists the property names a JWT claims (its payload, decoded;
// the signature is the services' business).
func propertyNames(t *testing.T, token string) string {
	var claims struct {
		Properties []struct {
			Name string `json:"property_name"`
		} `json:"properties"`
	}
	testenv.Payload(t, token, &claims)
	var names []string
	for _, p := range claims.Properties {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}
