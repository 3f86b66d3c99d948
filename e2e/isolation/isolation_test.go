//go:build isolation

package isolation

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/tools/procs"
)

// The topology, three network namespaces made here (names j4s-<run>-...):
//
//	outside 10.77.3.2 ── 10.77.3.1 user ── 10.77.1.1 ─┐ service network
//	outside 10.77.2.1 ── 10.77.2.2 property 10.77.1.2 ─┘
//
// The property service's public listener is on all its addresses, its
// internal listener on the service network's address only, and a firewall
// rule in its namespace (nftables) drops any packet for the internal port
// that did not arrive over the service network: even an outsider who routes
// to 10.77.1.2 through the property's public address gets nothing back.
const (
	userOnService, propertyOnService = "10.77.1.1", "10.77.1.2"
	outsideToProperty, propertyPub   = "10.77.2.1", "10.77.2.2"
	userPub, outsideToUser           = "10.77.3.1", "10.77.3.2"
	nsPrefix                         = "j4s-"
)

func TestInternalPortFencedByTheNetwork(t *testing.T) {
	bin := os.Getenv("SERVICE_BIN")
	_, ipErr := exec.LookPath("ip")
	_, nftErr := exec.LookPath("nft")
	if bin == "" || os.Geteuid() != 0 || ipErr != nil || nftErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("make isolation-test needs root, ip (iproute2), nft (nftables) and SERVICE_BIN in CI")
		}
		t.Skip("isolation test not run: it needs root, ip and nft (make isolation-test)")
	}
	removeStale(t)
	var id [3]byte
	_, _ = rand.Read(id[:])
	run := nsPrefix + hex.EncodeToString(id[:])
	user, property, outside := run+"-user", run+"-prop", run+"-out"
	for _, ns := range []string{user, property, outside} {
		netns(t, ns)
	}
	link(t, user, userOnService, property, propertyOnService)
	link(t, outside, outsideToProperty, property, propertyPub)
	link(t, user, userPub, outside, outsideToUser)
	firewall(t, property, `table inet fence {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 9002 iifname != "`+vethName(property, user)+`" drop
  }
}`)

	data := t.TempDir()
	var tok [32]byte
	_, _ = rand.Read(tok[:])
	token := base64.RawURLEncoding.EncodeToString(tok[:])
	propertyToken := token + "-property" // the property service's own, for the user service's internal listener
	// Token mode across hosts is TLS (issue 33): each internal listener has
	// a certificate for its service-network address from a CA of its own,
	// and each service verifies the other's against that CA.
	propTLS, userTLS := testenv.NewTLSFiles(t, propertyOnService), testenv.NewTLSFiles(t, userOnService)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(propTLS.CAPEM)
	roots.AppendCertsFromPEM(userTLS.CAPEM)
	in := func(ns string) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dialIn(ns),
			TLSClientConfig: &tls.Config{RootCAs: roots}}}
	}
	prop, err := procs.StartCommand("property-service", []string{"ip", "netns", "exec", property, filepath.Join(bin, "property-service")},
		map[string]string{"PROPERTY_PUBLIC_ADDR": "0.0.0.0:8002", "PROPERTY_INTERNAL_ADDR": propertyOnService + ":9002",
			"PROPERTY_DATABASE_URL": "sqlite:" + filepath.Join(data, "property.db"), "INTERNAL_SERVICE_TOKEN": token,
			// The other direction: the property service asks the user service's internal listener for names.
			"PROPERTY_SERVICE_TOKEN": propertyToken, "USER_SERVICE_INTERNAL_URL": "https://" + userOnService + ":9001",
			"INTERNAL_TLS_CERT_FILE": propTLS.Cert, "INTERNAL_TLS_KEY_FILE": propTLS.Key, "INTERNAL_TLS_CA_FILE": userTLS.CA,
			// Plain http across the namespaces' links: the test's own network.
			"JWT_JWKS_URL": "http://" + userOnService + ":8001/.well-known/jwks.json", "JWT_JWKS_PLAIN_HTTP": "allow"},
		in(property), "http://"+propertyPub+":8002/healthz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prop.Stop)
	usr, err := procs.StartCommand("user-service", []string{"ip", "netns", "exec", user, filepath.Join(bin, "user-service")},
		map[string]string{"USER_PUBLIC_ADDR": "0.0.0.0:8001", "USER_DATABASE_URL": "sqlite:" + filepath.Join(data, "user.db"),
			"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_URL": "https://" + propertyOnService + ":9002",
			"INTERNAL_TLS_CERT_FILE": userTLS.Cert, "INTERNAL_TLS_KEY_FILE": userTLS.Key, "INTERNAL_TLS_CA_FILE": propTLS.CA,
			"PROPERTY_SERVICE_TOKEN": propertyToken, "USER_INTERNAL_ADDR": userOnService + ":9001",
			"JWT_SIGNING_KEY_FILE": filepath.Join(data, "jwt.pem")},
		in(user), "http://"+userPub+":8001/healthz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(usr.Stop)

	fromOutside, fromUser := in(outside), in(user)
	internalURL := "https://" + propertyOnService + ":9002/api/internal/properties/users/1"

	// From the user service's namespace, the internal listener answers.
	// The test stands in for the user service: a subject token for user 1
	// signed with its key (created when it started).
	key, err := jwtauth.LoadOrCreateKey(filepath.Join(data, "jwt.pem"))
	if err != nil {
		t.Fatal(err)
	}
	signer := jwtauth.NewSigner(key, nil, jwtauth.Settings{Issuer: "jeeves4service"}, time.Hour)
	subject, _, err := signer.SignSubject(
		jwtauth.SubjectRequest{Subject: "1", Audience: "property-service", Operation: "getUserProperties",
			AuthorizedParty: "user-service"}, 30*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := testenv.TryWith(fromUser, "GET", internalURL, nil, "X-Internal-Token", token, "X-Subject-Token", subject); err != nil ||
		r.Status != 200 {
		t.Fatalf("internal call from the user namespace: %v %d", err, r.Status)
	}
	// Over plain http the internal listener takes no request at all (the
	// token would cross the service network in clear).
	if r, err := testenv.TryWith(fromUser, "GET", strings.Replace(internalURL, "https://", "http://", 1), nil,
		"X-Internal-Token", token, "X-Subject-Token", subject); err == nil && r.Status != http.StatusBadRequest {
		t.Fatalf("plain http to the internal listener from the user namespace: %d, want the TLS listener's 400", r.Status)
	}
	// From outside, no route to the service network at all...
	if err := dialFrom(outside, propertyOnService+":9002"); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("outside to the internal port, no route: %v, want network unreachable", err)
	}
	// ...and an outsider who adds one (their routing table is theirs) has
	// their SYNs dropped by the property namespace's firewall: no answer, not
	// even a refusal. With the right token, too.
	sh(t, "ip", "-n", outside, "route", "add", "10.77.1.0/24", "via", propertyPub)
	for _, target := range []string{propertyOnService + ":9002", propertyPub + ":9002"} {
		err := dialFrom(outside, target)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("outside to %s through the property's public address: %v, want a timeout (dropped)", target, err)
		}
	}
	if _, err := testenv.TryWith(fromOutside, "GET", internalURL, nil, "X-Internal-Token", token); err == nil {
		t.Error("the internal endpoint answered a request from outside")
	}
	// The other direction: the user service's internal listener answers the
	// property service's namespace, and not the outside.
	// The test stands in for the user service's exchange: a subject token
	// for the profiles call, signed with its key.
	profilesSubject, _, err := signer.SignSubject(
		jwtauth.SubjectRequest{Subject: "1", Audience: "user-service", Operation: "getUserProfiles",
			AuthorizedParty: "property-service"}, 30*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// User 1 has not been seen in property 1 yet: past the credential and
	// the subject token, the user service's own rule answers 403. An answer
	// is what this part is after.
	profilesURL := "https://" + userOnService + ":9001/api/internal/users/1/properties/1/profiles"
	if r, err := testenv.TryWith(in(property), "POST", profilesURL, map[string]any{"user_ids": []int{1}},
		"X-Internal-Token", propertyToken, "X-Subject-Token", profilesSubject); err != nil || r.Status != 403 {
		t.Fatalf("profiles call from the property namespace: %v %d, want the user service's 403", err, r.Status)
	}
	if _, err := testenv.TryWith(fromOutside, "POST", profilesURL, map[string]any{"user_ids": []int{1}},
		"X-Internal-Token", propertyToken); err == nil {
		t.Error("the user service's internal endpoint answered a request from outside")
	}

	// The public listeners are reachable from outside, and the whole story
	// works across the namespaces: register, log in, create a property (its
	// service fetches the JWKS over the service network), log in again and
	// get the property as a claim (the internal call over the service network).
	user1 := "http://" + userPub + ":8001"
	r := testenv.DoWith(t, fromOutside, "POST", user1+"/api/users/register", map[string]string{"email": "netns@example.com",
		"password": "namespaces are walls 1234", "first_name": "Net", "last_name": "Ns"})
	if r.Status != 201 {
		t.Fatalf("register from outside: %d %s", r.Status, r.Body)
	}
	login := func() string {
		r := testenv.DoWith(t, fromOutside, "POST", user1+"/api/users/authenticate",
			map[string]string{"email": "netns@example.com", "password": "namespaces are walls 1234"})
		var s struct{ Token string }
		if r.Status != 200 || json.Unmarshal(r.Body, &s) != nil {
			t.Fatalf("login from outside: %d %s", r.Status, r.Body)
		}
		return s.Token
	}
	r = testenv.DoWith(t, fromOutside, "POST", "http://"+propertyPub+":8002/api/properties/",
		map[string]string{"name": "Behind the fence"}, testenv.Bearer(login())...)
	if r.Status != 201 {
		t.Fatalf("create a property from outside: %d %s", r.Status, r.Body)
	}
	var claims tokenClaims
	testenv.Payload(t, login(), &claims)
	if !claims.PropertiesIncluded || len(claims.Properties) != 1 || claims.Properties[0].PropertyName != "Behind the fence" {
		t.Errorf("login after the internal call across namespaces: %+v", claims)
	}
	var created struct{ ID int64 }
	_ = json.Unmarshal(r.Body, &created)
	var members struct {
		NamesIncluded bool `json:"names_included"`
		Members       []struct {
			DisplayName string `json:"display_name"`
		} `json:"members"`
	}
	testenv.DoWith(t, fromOutside, "GET", fmt.Sprintf("http://%s:8002/api/property/%d/members", propertyPub, created.ID), nil,
		testenv.Bearer(login())...).JSON(t, &members)
	if !members.NamesIncluded || len(members.Members) != 1 || members.Members[0].DisplayName != "Net Ns" {
		t.Errorf("the member list by name across namespaces (the profiles call): %+v", members)
	}
	if t.Failed() {
		return
	}
	fmt.Printf("isolation-test: namespaces 3, links 3; outside to the internal port: unreachable without a route, " +
		"dropped with one; inside: answered over TLS only; public listeners from outside: answered; login with property claims across namespaces: ok\n")
}

type tokenClaims struct {
	PropertiesIncluded bool `json:"properties_included"`
	Properties         []struct {
		PropertyName string `json:"property_name"`
	} `json:"properties"`
}

// netns makes a namespace with loopback up, deleted when the test ends
// (with it go the veth ends inside it, and so their peers).
func netns(t *testing.T, name string) {
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete namespace %s: %v %s", name, err, out)
		}
	})
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
}

// vethName names the end in a of the link between a and b (at most 15 bytes).
func vethName(a, b string) string {
	short := func(ns string) string { return ns[strings.LastIndex(ns, "-")+1:] }
	return "v" + short(a) + "2" + short(b)
}

// link joins namespaces a and b with a veth pair, addresses in a /24.
func link(t *testing.T, a, addrA, b, addrB string) {
	ea, eb := vethName(a, b), vethName(b, a)
	sh(t, "ip", "link", "add", ea, "netns", a, "type", "veth", "peer", "name", eb, "netns", b)
	for _, end := range [][2]string{{a, ea}, {b, eb}} {
		addr := addrA
		if end[0] == b {
			addr = addrB
		}
		sh(t, "ip", "-n", end[0], "addr", "add", addr+"/24", "dev", end[1])
		sh(t, "ip", "-n", end[0], "link", "set", end[1], "up")
	}
}

// removeStale deletes namespaces an earlier, killed run of this test left.
func removeStale(t *testing.T) {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(strings.TrimSpace(line), " "); strings.HasPrefix(name, nsPrefix) {
			t.Logf("removing namespace %s left by an earlier run", name)
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// firewall loads an nftables ruleset into namespace ns.
func firewall(t *testing.T, ns, rules string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s", ns, err, out)
	}
}

// dialIn returns a DialContext whose sockets are made inside namespace ns:
// a goroutine locks itself to an OS thread, moves that thread into ns, and
// dials; the socket stays in ns, and the thread, which is never unlocked,
// ends with the goroutine rather than serve others from the wrong namespace.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		done := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			f, err := os.Open("/var/run/netns/" + ns)
			if err != nil {
				done <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				done <- result{nil, fmt.Errorf("enter namespace %s: %w", ns, err)}
				return
			}
			c, err := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, addr)
			done <- result{c, err}
		}()
		r := <-done
		return r.c, r.err
	}
}

// dialFrom opens a TCP connection from namespace ns (nil: it answered).
func dialFrom(ns, addr string) error {
	c, err := dialIn(ns)(context.Background(), "tcp", addr)
	if err == nil {
		c.Close()
	}
	return err
}
