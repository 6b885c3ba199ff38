package doclinks

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	inlineLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	refLink    = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s+(\S+)`)
	// Places outside the repository that notes must not send readers to.
	outside = regexp.MustCompile(`\.\./shared|/work/`)
)

// Every link in every *.md file is a public https URL or a relative path
// to a file or directory inside the repository; no text points outside it.
func TestMarkdownLinksStayInRepo(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", ".state", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".md") {
			return nil
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		text := string(b)
		if m := outside.FindString(text); m != "" {
			t.Errorf("%s mentions %q, outside the repository", rel, m)
		}
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, m := range refLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			if msg := checkTarget(root, filepath.Dir(path), target); msg != "" {
				t.Errorf("%s: link %q: %s", rel, target, msg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("found %d Markdown files under %s; is the walk rooted right?", files, root)
	}
}

func checkTarget(root, dir, target string) string {
	switch {
	case strings.HasPrefix(target, "https://"), strings.HasPrefix(target, "#"), strings.HasPrefix(target, "mailto:"):
		return ""
	case strings.Contains(target, "://"):
		return "only https URLs are allowed"
	case strings.HasPrefix(target, "/"):
		return "absolute path; link relative to the file"
	}
	p, _, _ := strings.Cut(target, "#")
	abs := filepath.Clean(filepath.Join(dir, p))
	if abs != root && !strings.HasPrefix(abs, root+string(filepath.Separator)) {
		return "leaves the repository"
	}
	if _, err := os.Stat(abs); err != nil {
		return "no such file in the repository"
	}
	return ""
}

func TestCheckTarget(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "docs", "a.md"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for target, ok := range map[string]bool{
		"docs/a.md": true, "docs/a.md#keys": true, "docs/": true, "https://example.com/x": true, "#anchor": true,
		"docs/b.md": false, "../shared/ARCHITECTURE.md": false, "/etc/passwd": false, "http://example.com": false,
	} {
		if got := checkTarget(root, root, target) == ""; got != ok {
			t.Errorf("checkTarget(%q) accepted=%v, want %v", target, got, ok)
		}
	}
}
