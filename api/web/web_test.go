package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// The page and its files: content types, the CSP, revalidation by ETag,
// and the caller's 404 for anything else.
func TestHandler(t *testing.T) {
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "nope", http.StatusTeapot) }))
	for path, ct := range map[string]string{
		"/":                 "text/html; charset=utf-8",
		"/assets/app.js":    "text/javascript; charset=utf-8",
		"/assets/chart.js":  "text/javascript; charset=utf-8",
		"/assets/style.css": "text/css; charset=utf-8",
		"/assets/icon.svg":  "image/svg+xml",
	} {
		resp := get(t, h, "GET", path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct || len(body) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes; want 200 %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), ct)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
		etag := resp.Header.Get("ETag")
		if again := get(t, h, "GET", path, "If-None-Match", etag); etag == "" || again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s: %d", path, etag, again.StatusCode)
		}
		if head := get(t, h, "HEAD", path); head.StatusCode != 200 || head.ContentLength > 0 {
			body, _ := io.ReadAll(head.Body)
			if len(body) > 0 {
				t.Errorf("HEAD %s: a body", path)
			}
		}
	}
	for _, path := range []string{"/index.html", "/assets/", "/assets/index.html", "/assets/nope.js", "/static/app.js"} {
		if resp := get(t, h, "GET", path); resp.StatusCode != http.StatusTeapot {
			t.Errorf("GET %s: %d, want the caller's 404 handler", path, resp.StatusCode)
		}
	}
}

// Every file the page names exists, and none names another origin: the
// page works with the network closed and its CSP.
func TestAssetsSelfContained(t *testing.T) {
	ref := regexp.MustCompile(`(?:src|href)="([^"]+)"|from "([^"]+)"|import\("([^"]+)"\)`)
	external := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range ref.FindAllStringSubmatch(string(body), -1) {
			target := m[1] + m[2] + m[3]
			name := ""
			switch {
			case strings.HasPrefix(target, AssetPrefix):
				name = strings.TrimPrefix(target, AssetPrefix)
			case strings.HasPrefix(target, "./"):
				name = strings.TrimPrefix(target, "./")
			case target == "/api/openapi.json":
				continue
			default:
				t.Errorf("%s refers to %q, not a file of the page", p, target)
				continue
			}
			if _, err := static.ReadFile("static/" + name); err != nil {
				t.Errorf("%s refers to %q: %v", p, target, err)
			}
		}
		for _, u := range external.FindAllString(string(body), -1) {
			if u != "http://www.w3.org" { // the SVG namespace, not a fetch
				t.Errorf("%s names another origin: %s", p, u)
			}
		}
		if strings.Contains(p, ".html") && (strings.Contains(string(body), "<script>") || strings.Contains(string(body), "style=")) {
			t.Errorf("%s has inline script or style: the CSP would block it", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
