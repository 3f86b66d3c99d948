package reqinfo_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
)

type otherKey struct{}

// The record rides in the request's context without hiding anything of the
// context it extends: its values, its cancellation, and the same record on a
// second Attach.
func TestAttachExtendsTheRequestsContext(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "kept"))
	r, info := reqinfo.Attach(httptest.NewRequest("GET", "/", nil).WithContext(parent))
	info.RequestID = "abc"
	if again, same := reqinfo.Attach(r); again != r || same != info {
		t.Fatal("a second Attach made a new record")
	}
	if reqinfo.RequestID(r.Context()) != "abc" || r.Context().Value(otherKey{}) != "kept" {
		t.Fatal("the record or the parent's value is lost")
	}
	child, stop := context.WithCancel(r.Context())
	defer stop()
	cancel()
	<-child.Done() // blocks forever if cancellation did not reach through the record
	if r.Context().Err() != context.Canceled {
		t.Fatalf("Err() = %v", r.Context().Err())
	}
}
