package router

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service"
)

// The docs page is embedded gzipped: sent as it is to a client that takes
// gzip, unpacked for one that does not, and the same page either way.
func TestDocsPageGzipOrPlain(t *testing.T) {
	r := chi.NewRouter()
	if err := Docs(r, jeeves4service.PublicDocs, jeeves4service.PublicSpec); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	get := func(acceptEncoding string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+"/docs", nil)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		// DisableCompression: the transport neither asks for gzip nor unpacks it.
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	plainResp, plain := get("")
	if plainResp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(plain), "<html") {
		t.Fatalf("no Accept-Encoding: %q, starts %q", plainResp.Header.Get("Content-Encoding"), plain[:min(40, len(plain))])
	}
	gzResp, packed := get("br;q=1, gzip;q=0.8")
	if gzResp.Header.Get("Content-Encoding") != "gzip" || gzResp.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip accepted: Content-Encoding %q Vary %q", gzResp.Header.Get("Content-Encoding"), gzResp.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	unpacked, _ := io.ReadAll(zr)
	if !bytes.Equal(unpacked, plain) {
		t.Fatal("the gzipped page and the plain page differ")
	}
	if r, _ := get("gzip;q=0"); r.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip sent to a client that refused it (q=0)")
	}
	for _, h := range []*http.Response{plainResp, gzResp} {
		if !strings.Contains(h.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatal("docs page without its CSP")
		}
	}
	if err := Docs(chi.NewRouter(), []byte("<html>not packed</html>"), jeeves4service.PublicSpec); err == nil {
		t.Fatal("an unpacked page was accepted: make docs writes .html.gz")
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=1.0": true, "gzip;q=0": false, "gzip; q=0.000": false,
		"*": true, "br": false, "identity": false, "x-gzip": false, "gzip;q=0.5": true, "gzip;q=x": false,
		"*;q=1, gzip;q=0": false, "gzip;q=0, *": false, "br, *;q=0": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("Accept-Encoding %q: %v, want %v", header, got, want)
		}
	}
}

// Issue 25, item 8: the docs page (2.6 MB unpacked) and the contracts went out
// whole to every request. Each is now served with a validator and a cache
// lifetime: a client that has it asks with If-None-Match and gets 304 and no
// body; a client whose copy differs gets the body.
func TestDocsAndContractsAnswerConditionalRequests(t *testing.T) {
	r := chi.NewRouter()
	if err := Docs(r, jeeves4service.PublicDocs, jeeves4service.PublicSpec); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(path string, headers ...string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	tags := map[string]string{}
	for _, c := range []struct{ path, encoding string }{
		{"/docs", ""}, {"/docs", "gzip"}, {"/openapi.yaml", ""}, {"/openapi.json", ""},
	} {
		name := c.path + " " + c.encoding
		first, body := get(c.path, "Accept-Encoding", c.encoding)
		tag := first.Header.Get("ETag")
		if first.StatusCode != 200 || len(body) == 0 || !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) || len(tag) < 10 {
			t.Fatalf("%s: %d, %d bytes, ETag %q: want 200 with a strong ETag", name, first.StatusCode, len(body), tag)
		}
		if cc := first.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
			t.Errorf("%s: Cache-Control %q, want a max-age", name, cc)
		}
		tags[name] = tag
		for _, match := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
			again, body := get(c.path, "Accept-Encoding", c.encoding, "If-None-Match", match)
			if again.StatusCode != http.StatusNotModified || len(body) != 0 || again.Header.Get("ETag") != tag {
				t.Errorf("%s with If-None-Match %s: %d, %d bytes, ETag %q; want 304, no body, the same ETag",
					name, match, again.StatusCode, len(body), again.Header.Get("ETag"))
			}
		}
		if other, body := get(c.path, "Accept-Encoding", c.encoding, "If-None-Match", `"not-this-one"`); other.StatusCode != 200 ||
			len(body) == 0 {
			t.Errorf("%s with another ETag: %d, %d bytes; want 200 and the body", name, other.StatusCode, len(body))
		}
	}
	// Each representation has its own validator: a cache holding the gzipped
	// page must never be told its copy is the plain one.
	if tags["/docs "] == tags["/docs gzip"] {
		t.Errorf("the plain and the gzipped page share the ETag %s", tags["/docs "])
	}
}
