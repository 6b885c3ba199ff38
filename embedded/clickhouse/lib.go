package clickhouse

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// The engine is chDB's libchdb.so (ClickHouse built as a shared library),
// shipped by npm in @chdb/lib-linux-x64-gnu. Keep these in sync with
// scripts/fetch-chdb.sh.
const (
	// LibVersion is the npm version of @chdb/lib-linux-x64-gnu we pin.
	LibVersion = "26.7.3-stable.1"
	// LibSHA256 is the sha256 of package/libchdb.so in that tarball.
	LibSHA256 = "36ad4e999882821ef13cf2d0f52c93f48e6ee1b4498b35a201c23ce4b8d15bf5"
	// EnvLib names an existing libchdb.so to use instead of the cache.
	EnvLib = "HEDGELINE_CLICKHOUSE_LIB"

	npmPackage = "@chdb/lib-linux-x64-gnu"
	npmTarball = "https://registry.npmjs.org/@chdb/lib-linux-x64-gnu/-/lib-linux-x64-gnu-" + LibVersion + ".tgz"
	libName    = "libchdb.so"
	markerExt  = ".sha256-ok"
)

// ErrLibNotFound is returned (wrapped) by CachedLibPath when no library is
// configured or cached.
var ErrLibNotFound = errors.New("libchdb.so not found")

// LibPath returns the path of a usable libchdb.so, fetching it if needed:
//
//  1. $HEDGELINE_CLICKHOUSE_LIB, if set (must exist; not hash-checked, so a
//     deliberately different build can be used);
//  2. the cache, $XDG_CACHE_HOME (or ~/.cache) /hedgeline/chdb/<LibVersion>/libchdb.so,
//     if its sha256 verifies;
//  3. otherwise it downloads the npm package (npm pack, or plain HTTPS to
//     the npm registry when npm is not installed), extracts only
//     package/libchdb.so, verifies its sha256 and renames it into the cache.
//
// Fetching moves ~177 MB and takes ~15 s; it is logged through slog.
func LibPath(ctx context.Context) (string, error) {
	p, err := CachedLibPath()
	if err == nil || !errors.Is(err, ErrLibNotFound) || os.Getenv(EnvLib) != "" {
		return p, err
	}
	return fetchLib(ctx)
}

// CachedLibPath is LibPath without the download: it reports ErrLibNotFound
// (wrapped) when neither $HEDGELINE_CLICKHOUSE_LIB nor a verified cached copy
// exists.
func CachedLibPath() (string, error) {
	if p := os.Getenv(EnvLib); p != "" {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvLib, p, err)
		}
		if st.IsDir() {
			return "", fmt.Errorf("%s=%s is a directory, want the path of libchdb.so", EnvLib, p)
		}
		return p, nil
	}
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	lib := filepath.Join(dir, libName)
	ok, err := verifyCached(lib)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: not in cache %s (run scripts/fetch-chdb.sh, or set %s)", ErrLibNotFound, lib, EnvLib)
	}
	return lib, nil
}

func cacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locating cache dir for libchdb.so: %w (set XDG_CACHE_HOME or %s)", err, EnvLib)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "hedgeline", "chdb", LibVersion), nil
}

// markerLine is what the .sha256-ok marker beside the library holds. Hashing
// 566 MB costs ~1-2 s on every start; the marker lets a start trust a file
// whose size and mtime are unchanged since it was last verified. Same format
// as scripts/fetch-chdb.sh writes: "<sha256> <size> <mtime unix seconds>".
func markerLine(st os.FileInfo) string {
	return fmt.Sprintf("%s %d %d", LibSHA256, st.Size(), st.ModTime().Unix())
}

// verifyCached reports whether lib exists with the pinned sha256. A missing
// file is (false, nil); a file with the wrong hash is (false, nil) too, so
// the caller refetches over it.
func verifyCached(lib string) (bool, error) {
	st, err := os.Stat(lib)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	marker := lib + markerExt
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == markerLine(st) {
		return true, nil
	}
	sum, err := fileSHA256(lib)
	if err != nil {
		return false, err
	}
	if sum != LibSHA256 {
		slog.Warn("cached libchdb.so has the wrong sha256; it will be fetched again", "path", lib, "sha256", sum)
		return false, nil
	}
	_ = os.WriteFile(marker, []byte(markerLine(st)+"\n"), 0o644) // best effort: only saves time
	return true, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fetchLib(ctx context.Context) (string, error) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return "", fmt.Errorf("no libchdb.so is pinned for %s/%s (only linux/amd64); set %s to a libchdb.so built for this platform",
			runtime.GOOS, runtime.GOARCH, EnvLib)
	}
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating cache dir for libchdb.so: %w", err)
	}
	lib := filepath.Join(dir, libName)

	// Serialise concurrent fetchers (parallel test binaries, CI jobs): the
	// loser of the race finds the file already there.
	unlock, err := lockFile(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if ok, err := verifyCached(lib); err != nil || ok {
		return lib, err
	}

	// Temp dir inside the cache dir so the final rename is atomic (same fs).
	tmp, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)

	slog.Info("fetching the embedded ClickHouse engine, libchdb.so (177 MB download, once), from npm",
		"package", npmPackage+"@"+LibVersion, "cache", dir)
	start := time.Now()
	out := filepath.Join(tmp, libName)
	// HTTPS first, for its progress; the registry is npm's configured one
	// when npm is installed. npm pack (no progress) is the fallback: it
	// knows proxies and auth that plain HTTPS does not.
	npm, lookErr := exec.LookPath("npm")
	if err = fetchWithHTTP(ctx, registryURL(ctx, npm), out); err != nil && lookErr == nil {
		slog.Warn("HTTPS download failed; trying npm pack (no progress shown)", "err", err)
		if npmErr := fetchWithNPM(ctx, npm, tmp, out); npmErr != nil {
			err = errors.Join(fmt.Errorf("https: %w", err), npmErr)
		} else {
			err = nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("fetching %s@%s: %w\n"+
			"Is the npm registry reachable (npm config: registry, proxy)? Fix that and retry, "+
			"or set %s=/path/to/libchdb.so, an existing copy from that package (sha256 %s)",
			npmPackage, LibVersion, err, EnvLib, LibSHA256)
	}
	sum, err := fileSHA256(out)
	if err != nil {
		return "", err
	}
	if sum != LibSHA256 {
		return "", fmt.Errorf("fetched libchdb.so has sha256 %s, want %s (registry content changed?)", sum, LibSHA256)
	}
	if err := os.Rename(out, lib); err != nil {
		return "", fmt.Errorf("installing libchdb.so into cache: %w", err)
	}
	if st, err := os.Stat(lib); err == nil {
		_ = os.WriteFile(lib+markerExt, []byte(markerLine(st)+"\n"), 0o644)
	}
	slog.Info("fetched libchdb.so", "path", lib, "took", time.Since(start).Round(time.Millisecond))
	return lib, nil
}

// fetchWithNPM uses `npm pack`, which honours the user's npm configuration
// (registry mirror, proxy, auth, CA) – the most robust path where npm exists.
func fetchWithNPM(ctx context.Context, npm, tmp, out string) error {
	cmd := exec.CommandContext(ctx, npm, "pack", "--silent", npmPackage+"@"+LibVersion)
	cmd.Dir = tmp
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm pack: %w: %s", err, strings.TrimSpace(tail(stderr.String(), 2000)))
	}
	matches, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(matches) != 1 {
		return fmt.Errorf("npm pack left %d .tgz files in %s, want 1", len(matches), tmp)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		return err
	}
	defer f.Close()
	defer os.Remove(matches[0])
	return extractLib(f, out)
}

// registryURL is the npm registry to download from: $npm_config_registry,
// else npm's configured registry, else registry.npmjs.org.
func registryURL(ctx context.Context, npm string) string {
	if reg := os.Getenv("npm_config_registry"); reg != "" {
		return strings.TrimRight(reg, "/")
	}
	if npm != "" {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, npm, "config", "get", "registry").Output(); err == nil {
			if reg := strings.TrimSpace(string(out)); strings.HasPrefix(reg, "http") {
				return strings.TrimRight(reg, "/")
			}
		}
	}
	return "https://registry.npmjs.org"
}

// fetchWithHTTP downloads the tarball from the registry, showing progress
// (HTTPS_PROXY is honoured).
func fetchWithHTTP(ctx context.Context, registry, out string) error {
	url := registry + strings.TrimPrefix(npmTarball, "https://registry.npmjs.org")
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The registry URL may carry credentials (user:pass@): never show them.
	shown := req.URL.Redacted()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err // names the URL, redacted by net/http
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", shown, resp.Status)
	}
	p := newProgress(os.Stderr, resp.ContentLength, shown)
	defer p.done()
	return extractLib(io.TeeReader(resp.Body, p), out)
}

// extractLib copies package/libchdb.so out of a .tgz stream into out.
func extractLib(r io.Reader, out string) error {
	gz, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return fmt.Errorf("reading npm tarball: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return errors.New("npm tarball has no package/" + libName)
		}
		if err != nil {
			return fmt.Errorf("reading npm tarball: %w", err)
		}
		if h.Name != "package/"+libName || h.Typeflag != tar.TypeReg {
			continue
		}
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return fmt.Errorf("extracting %s: %w", libName, err)
		}
		// No fsync of 566 MB: a torn file fails the sha256 check and is refetched.
		return f.Close()
	}
}

// lockFile takes an exclusive flock, polling so ctx can cancel the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another process fetching libchdb.so (%s): %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
