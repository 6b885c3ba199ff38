package clickhouse

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The download reports bytes of total, rate and ETA while it runs; on a
// terminal as one line rewritten with \r.
func TestDownloadShowsProgress(t *testing.T) {
	lib := bytes.Repeat([]byte("x"), 1<<20)
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "package/" + libName, Mode: 0o755, Size: int64(len(lib)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(lib)
	tw.Close()
	gz.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, ".tgz") {
			http.NotFound(w, r)
			return
		}
		w.Write(tgz.Bytes())
	}))
	defer srv.Close()

	out := filepath.Join(t.TempDir(), libName)
	if err := fetchWithHTTP(context.Background(), srv.URL, out); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, lib) {
		t.Fatalf("extracted %d bytes, want %d", len(got), len(lib))
	}

	var term bytes.Buffer
	p := newProgress(&term, 2_000_000, "test")
	p.tty, p.interval = true, 0
	p.Write(make([]byte, 1_000_000))
	p.done()
	s := term.String()
	for _, want := range []string{"\r", "1.0 MB of 2.0 MB", "MB/s", "ETA "} {
		if !strings.Contains(s, want) {
			t.Errorf("progress %q lacks %q", s, want)
		}
	}
	if !strings.HasSuffix(s, "\n") {
		t.Errorf("progress %q: the final report should end the line", s)
	}
}
