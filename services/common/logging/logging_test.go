package logging_test

import (
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/logging"
)

// INFO lines (audit lines) wait in the buffer; a WARN line flushes at once,
// with everything before it; Close writes the rest.
func TestBufferedOutputFlushesWarningsAtOnceAndEverythingOnClose(t *testing.T) {
	env := map[string]string{"LOG_FLUSH_INTERVAL": "1h"}
	var sink testenv.LogBuffer
	out, err := logging.NewOutput(func(k string) string { return env[k] }, &sink)
	if err != nil {
		t.Fatal(err)
	}
	log, err := logging.New(func(k string) string { return env[k] }, out, "test")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("audit one")
	if sink.String() != "" {
		t.Fatalf("an INFO line was written before a flush: %q", sink.String())
	}
	log.Warn("refused", "token", "s3cret")
	if got := sink.String(); !strings.Contains(got, "audit one") || !strings.Contains(got, "refused") || strings.Contains(got, "s3cret") {
		t.Fatalf("after a WARN line: %q", got)
	}
	log.Info("audit two")
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sink.String(), "audit two") {
		t.Fatal("Close lost a buffered line")
	}
}

func TestUnbufferedOutputWritesEachLine(t *testing.T) {
	env := map[string]string{"LOG_FLUSH_INTERVAL": "0"}
	var sink testenv.LogBuffer
	out, _ := logging.NewOutput(func(k string) string { return env[k] }, &sink)
	log, _ := logging.New(func(k string) string { return env[k] }, out, "test")
	log.Info("audit")
	if !strings.Contains(sink.String(), "audit") {
		t.Fatal("LOG_FLUSH_INTERVAL=0 did not write the line at once")
	}
	if _, err := logging.NewOutput(func(string) string { return "soon" }, &sink); err == nil {
		t.Fatal("a malformed LOG_FLUSH_INTERVAL was accepted")
	}
}
