package workload

import (
	"errors"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/services/common/config"
)

// Issue 35, defect 5: a Role that offers no mode (Modes empty) is the
// service's programming error; ReadConfig used to index Modes[0] and panic
// at start-up. It is reported through the Reader like every configuration
// error: a *config.Error naming INTERNAL_AUTH, and no panic.
func TestReadConfigWithoutModesIsAnErrorNotAPanic(t *testing.T) {
	r := config.NewReader(func(string) string { return "" })
	var c Config
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("ReadConfig panicked: %v", p)
			}
		}()
		c = ReadConfig(r, Role{Name: "x"})
	}()
	var ce *config.Error
	if !errors.As(r.Err(), &ce) || ce.Var != "INTERNAL_AUTH" || !strings.Contains(ce.Problem, "x") {
		t.Fatalf("ReadConfig with no Modes: %v, want a *config.Error on INTERNAL_AUTH naming the service", r.Err())
	}
	if c.Name != "x" || c.Mode != "" || len(c.Accepted) != 0 {
		t.Fatalf("the configuration read: %+v, want nothing but the name", c)
	}
}
