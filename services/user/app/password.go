package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/jeeves4service/jeeves4service/services/common/tracing"
)

// hashSlots bounds how many argon2id computations run at once to the number
// of cores. Each takes 19 MiB; unbounded, a burst of logins would multiply the
// memory and thrash the cores without finishing any sooner: past the cores,
// more hashes at once only share them and hold their memory longer.
var hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// withHashSlot runs fn when a slot is free, or gives up when ctx ends;
// started (when not nil) is told when fn starts.
func withHashSlot(ctx context.Context, started func(), fn func()) error {
	// One span for the wait and the hash: both are what a login pays here.
	_, span := tracing.Start(ctx, "password.argon2id")
	defer span.End()
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for a password hashing slot: %w", ctx.Err())
	}
	defer func() { <-hashSlots }()
	if started != nil {
		started()
	}
	fn()
	return nil
}

// hashInSlot is HashPassword run in a hashing slot.
func (s *Service) hashInSlot(ctx context.Context, password string) (hash string, err error) {
	if slotErr := withHashSlot(ctx, s.hashStarted("hash"), func() { hash, err = HashPassword(password) }); slotErr != nil {
		return "", slotErr
	}
	return hash, err
}

// verifyInSlot is VerifyPassword run in a hashing slot.
func (s *Service) verifyInSlot(ctx context.Context, hash, password string) (ok bool, err error) {
	if slotErr := withHashSlot(ctx, s.hashStarted("check"), func() { ok, err = VerifyPassword(hash, password) }); slotErr != nil {
		return false, slotErr
	}
	return ok, err
}

// Argon2id parameters: OWASP's first recommended set (19 MiB, 2 passes, 1 lane).
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// HashPassword returns a PHC-format argon2id hash with a fresh random salt.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// VerifyPassword reports whether password matches hash, comparing in constant
// time. The parameters come from the hash, so old hashes keep verifying after
// the defaults change.
func VerifyPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var mem, iter uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, iter, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when the email is unknown, so that a login for
// an unknown email spends the same hashing time as a wrong password and the
// response time does not reveal which emails are registered.
var dummyHash = func() string {
	h, err := HashPassword("not a real password, only for timing")
	if err != nil {
		panic(err)
	}
	return h
}()

// hashStarted is what withHashSlot tells when a computation of kind starts.
func (s *Service) hashStarted(kind string) func() {
	if s.OnHash == nil {
		return nil
	}
	return func() { s.OnHash(kind) }
}
