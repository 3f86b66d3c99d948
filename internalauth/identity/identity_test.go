package identity_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth/identity"
)

var services = []string{"user-service", "property-service"}

// Every directory init writes is a complete identity, and the CA's private
// key is in none of them: whoever reads a service's directory can be that
// service, not mint others.
func TestInitWritesCompleteDirectoriesWithoutTheCAKey(t *testing.T) {
	dir := t.TempDir()
	if err := identity.Init("example.org", dir, services, time.Hour); err != nil {
		t.Fatal(err)
	}
	log, _ := testenv.Logger()
	var caKey crypto.PublicKey
	for _, svc := range services {
		src, err := identity.Open(context.Background(), identity.Config{Dir: filepath.Join(dir, svc)}, log)
		if err != nil {
			t.Fatal(err)
		}
		if src.ID().String() != "spiffe://example.org/"+svc {
			t.Fatalf("%s: id %s", svc, src.ID())
		}
		b, err := src.GetX509BundleForTrustDomain(src.ID().TrustDomain())
		if err != nil || len(b.X509Authorities()) != 1 {
			t.Fatalf("%s: bundle %v", svc, err)
		}
		caKey = b.X509Authorities()[0].PublicKey
	}
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", path, info.Mode().Perm())
		}
		data, _ := os.ReadFile(path)
		for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
			if !strings.Contains(block.Type, "PRIVATE KEY") {
				continue
			}
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if key.(interface{ Public() crypto.PublicKey }).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(caKey) {
				t.Fatalf("%s holds the CA key", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The JWT-SVIDs a file identity mints verify against the trust domain's JWT
// bundle, for the audience asked, and live at most five minutes.
func TestFileIdentityMintsShortJWTSVIDs(t *testing.T) {
	dir := t.TempDir()
	if err := identity.Init("example.org", dir, services, time.Hour); err != nil {
		t.Fatal(err)
	}
	log, _ := testenv.Logger()
	user, err := identity.Open(context.Background(), identity.Config{Dir: filepath.Join(dir, "user-service")}, log)
	if err != nil {
		t.Fatal(err)
	}
	prop, err := identity.Open(context.Background(), identity.Config{Dir: filepath.Join(dir, "property-service")}, log)
	if err != nil {
		t.Fatal(err)
	}
	aud := spiffeid.RequireFromString("spiffe://example.org/property-service")
	token, err := user.JWTSVID(context.Background(), aud)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := user.JWTSVID(context.Background(), aud)
	if again != token {
		t.Fatal("a fresh JWT-SVID was minted for every call")
	}
	svid, err := jwtsvid.ParseAndValidate(token, prop, []string{aud.String()})
	if err != nil || svid.ID != user.ID() || time.Until(svid.Expiry) > identity.MaxJWTLifetime {
		t.Fatalf("%v %+v", err, svid)
	}
}

// Writing new files over a running identity rotates it without a restart;
// a half-written set keeps the last good one.
func TestFileIdentityRotates(t *testing.T) {
	d, err := identity.NewDevTrustDomain("example.org", services...)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "user-service")
	now := time.Now()
	if err := d.WriteService(dir, "user-service", now.Add(-time.Minute), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	log, logs := testenv.Logger()
	src, err := identity.Open(context.Background(), identity.Config{Dir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Run(ctx)
	first, _ := src.GetX509SVID()

	if err := os.WriteFile(filepath.Join(dir, identity.SVIDFile), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "do not load") })
	if kept, _ := src.GetX509SVID(); kept != first {
		t.Fatal("a broken file replaced the identity")
	}

	if err := d.WriteService(dir, "user-service", now.Add(-time.Minute), now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(logs.Lines("identity rotated")) == 1 })
	next, _ := src.GetX509SVID()
	if next.Certificates[0].SerialNumber.Cmp(first.Certificates[0].SerialNumber) == 0 {
		t.Fatal("the identity did not change")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}
