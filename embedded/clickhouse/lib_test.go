package clickhouse

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests need neither the library nor the network.

func fakeTarball(t *testing.T, lib []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		body []byte
	}{{"package/package.json", []byte("{}")}, {"package/libchdb.so", lib}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractLib(t *testing.T) {
	out := filepath.Join(t.TempDir(), "libchdb.so")
	if err := extractLib(bytes.NewReader(fakeTarball(t, []byte("ELF..."))), out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "ELF..." {
		t.Fatalf("extracted %q", b)
	}
}

func TestCachedLibPath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())

	t.Setenv(EnvLib, "/nonexistent/libchdb.so")
	if _, err := CachedLibPath(); err == nil || !strings.Contains(err.Error(), EnvLib) {
		t.Errorf("missing explicit lib: err = %v", err)
	}
	explicit := filepath.Join(t.TempDir(), "libchdb.so")
	os.WriteFile(explicit, []byte("x"), 0o644)
	t.Setenv(EnvLib, explicit)
	if p, err := CachedLibPath(); err != nil || p != explicit {
		t.Errorf("explicit lib: %q, %v", p, err)
	}

	t.Setenv(EnvLib, "")
	if _, err := CachedLibPath(); !errors.Is(err, ErrLibNotFound) {
		t.Errorf("empty cache: err = %v, want ErrLibNotFound", err)
	}
	dir, _ := cacheDir()
	os.MkdirAll(dir, 0o755)
	lib := filepath.Join(dir, libName)
	os.WriteFile(lib, []byte("not the library"), 0o755)
	if _, err := CachedLibPath(); !errors.Is(err, ErrLibNotFound) {
		t.Errorf("wrong-hash cache: err = %v, want ErrLibNotFound", err)
	}
	// The marker is trusted while size and mtime match, and only then.
	st, _ := os.Stat(lib)
	os.WriteFile(lib+markerExt, []byte(markerLine(st)+"\n"), 0o644)
	if p, err := CachedLibPath(); err != nil || p != lib {
		t.Errorf("with marker: %q, %v", p, err)
	}
	os.Chtimes(lib, time.Now(), st.ModTime().Add(time.Hour))
	if _, err := CachedLibPath(); !errors.Is(err, ErrLibNotFound) {
		t.Errorf("stale marker: err = %v, want ErrLibNotFound", err)
	}
}

// When the registry is unreachable the error must say how to proceed.
func TestFetchErrors(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv(EnvLib, "")
	ctx := context.Background()

	// npm present but failing, after the HTTPS download failed (an
	// unreachable registry: never the real one, which may well answer).
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "npm"), []byte("#!/bin/sh\necho 'npm error code ENOTFOUND' >&2\nexit 1\n"), 0o755)
	t.Setenv("PATH", bin)
	t.Setenv("npm_config_registry", "http://127.0.0.1:1")
	_, err := LibPath(ctx)
	t.Logf("npm failing: %v", err)
	if err == nil || !strings.Contains(err.Error(), "ENOTFOUND") || !strings.Contains(err.Error(), EnvLib) || !strings.Contains(err.Error(), "reachable") {
		t.Errorf("npm failing: err = %v", err)
	}

	// No npm: plain HTTP, registry down.
	t.Setenv("PATH", t.TempDir())
	_, err = LibPath(ctx)
	t.Logf("registry down: %v", err)
	if err == nil || !strings.Contains(err.Error(), EnvLib) {
		t.Errorf("registry down: err = %v", err)
	}

	// No npm: plain HTTP works, but the content is not the pinned library.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/lib-linux-x64-gnu-"+LibVersion+".tgz") {
			http.NotFound(w, r)
			return
		}
		w.Write(fakeTarball(t, []byte("impostor")))
	}))
	defer srv.Close()
	t.Setenv("npm_config_registry", srv.URL)
	_, err = LibPath(ctx)
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("wrong content: err = %v", err)
	}
	dir, _ := cacheDir()
	if _, err := os.Stat(filepath.Join(dir, libName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unverified library reached the cache: %v", err)
	}
}

func TestStartConfigErrors(t *testing.T) {
	if _, err := Start(context.Background(), Config{}); err == nil || !strings.Contains(err.Error(), "DataDir") {
		t.Errorf("no DataDir: err = %v", err)
	}
	if _, err := Start(context.Background(), Config{DataDir: t.TempDir(), TCPPort: 70000}); err == nil {
		t.Error("bad port accepted")
	}
}
