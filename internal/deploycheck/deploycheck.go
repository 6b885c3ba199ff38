// Package deploycheck reads the deployment files under deploy/ (docker
// compose, the Kubernetes kustomizations, systemd units, environment
// files, the Dockerfile, Grafana dashboards) for the tests that keep them
// consistent with the binary: which hedgeline command lines they run, with
// which HEDGELINE_* settings, and which queries the dashboards send.
//
// Nothing here runs a deployment: no Docker engine or cluster is needed.
// The Kubernetes manifests are built with kustomize's library, as
// `kubectl apply -k` would, so an overlay's patches are seen too.
//
// Files:
//
//	deploycheck.go  Root, Invocation, Invocations, EnvTokens, YAML reading
//	compose.go      docker compose services
//	kube.go         kustomize builds, pods' containers
//	systemd.go      units and their environment files
//	grafana.go      dashboards' queries, ClickHouse macro expansion
package deploycheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Root finds deploy/ by walking up from the working directory to the
// module root (the directory of go.mod).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("deploycheck: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "deploy"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("deploycheck: no go.mod above the working directory")
		}
		dir = parent
	}
}

// relPath is path as the errors show it: from the module root
// ("deploy/compose/compose.yaml").
func relPath(root, path string) string {
	if r, err := filepath.Rel(filepath.Dir(root), path); err == nil {
		return r
	}
	return path
}

// Invocation is one hedgeline process a deployment file starts.
type Invocation struct {
	// Where names the file and the service, container or unit.
	Where string
	// Args follow the binary: the command and its flags.
	Args []string
	// Env is what only this process gets: HEDGELINE_* names and values
	// ("" for a value taken from a Secret or the operator's shell).
	Env map[string]string
	// Shared are the environment files or ConfigMaps it reads, which
	// other invocations may read too.
	Shared []*EnvSource
}

// Command is the subcommand ("run", "serve").
func (i Invocation) Command() string {
	if len(i.Args) == 0 {
		return ""
	}
	return i.Args[0]
}

// EnvSource is a set of settings several processes read: an env file, a
// ConfigMap, the image's ENV lines.
type EnvSource struct {
	Where string
	Vars  map[string]string // HEDGELINE_* only
}

// Invocations is every hedgeline process of compose, the Kubernetes
// overlays and the systemd units under root.
func Invocations(root string) ([]Invocation, error) {
	image, err := DockerfileEnv(root)
	if err != nil {
		return nil, err
	}
	var out []Invocation
	c, err := ComposeInvocations(root)
	if err != nil {
		return nil, err
	}
	out = append(out, withShared(c, image)...)
	k, err := KubeInvocations(root)
	if err != nil {
		return nil, err
	}
	out = append(out, withShared(k, image)...)
	s, err := SystemdInvocations(root)
	if err != nil {
		return nil, err
	}
	return append(out, s...), nil
}

// withShared adds src (the image's ENV) to every invocation that runs in
// the image.
func withShared(invs []Invocation, src *EnvSource) []Invocation {
	for i := range invs {
		invs[i].Shared = append([]*EnvSource{src}, invs[i].Shared...)
	}
	return invs
}

// envName matches a HEDGELINE_* setting wherever it is written.
var envName = regexp.MustCompile(`\bHEDGELINE_[A-Z0-9_]*[A-Z0-9]\b`)

// EnvTokens is every HEDGELINE_* name written in any file under root and
// in the docs given (comments and documentation included), each with the
// files that name it.
func EnvTokens(root string, docs ...string) (map[string][]string, error) {
	out := map[string][]string{}
	add := func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("deploycheck: %w", err)
		}
		for _, m := range envName.FindAll(b, -1) {
			name := string(m)
			if len(out[name]) == 0 || out[name][len(out[name])-1] != path {
				out[name] = append(out[name], path)
			}
		}
		return nil
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return add(path)
	})
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		if err := add(d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Files lists the files under root whose names end in one of exts, sorted.
func Files(root string, exts ...string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, e := range exts {
			if strings.HasSuffix(path, e) {
				out = append(out, path)
				break
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// YAMLDocs decodes every document of a YAML file (anchors and merge keys
// resolved; a duplicate key is an error). Empty documents are skipped.
func YAMLDocs(path string) ([]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deploycheck: %w", err)
	}
	return yamlDocs(path, b)
}

func yamlDocs(name string, b []byte) ([]map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for i := 0; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
		}
		if doc != nil {
			out = append(out, doc)
		}
	}
}

// DockerfileEnv is the image's ENV settings (HEDGELINE_* only).
func DockerfileEnv(root string) (*EnvSource, error) {
	path := filepath.Join(root, "Dockerfile")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deploycheck: %w", err)
	}
	src := &EnvSource{Where: relPath(root, path) + ": ENV", Vars: map[string]string{}}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "ENV" {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("%s: ENV %s: want KEY=VALUE", path, kv)
			}
			if strings.HasPrefix(k, "HEDGELINE_") {
				src.Vars[k] = v
			}
		}
	}
	return src, nil
}

// str is m[key] as a string ("" when absent or not a string).
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// strList is a YAML sequence of scalars as strings; a scalar alone is
// an error (a shell-form command, which hides its arguments).
func strList(v any, what string) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list, got %T", what, v)
	}
	out := make([]string, len(list))
	for i, e := range list {
		switch e := e.(type) {
		case string:
			out[i] = e
		case int, int64, float64, bool:
			out[i] = fmt.Sprint(e)
		default:
			return nil, fmt.Errorf("%s[%d]: want a scalar, got %T", what, i, e)
		}
	}
	return out, nil
}
