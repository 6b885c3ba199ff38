package deploycheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ComposeFile is deploy/compose/compose.yaml.
func ComposeFile(root string) string { return filepath.Join(root, "compose", "compose.yaml") }

// Compose is the compose file decoded (merge keys resolved).
func Compose(root string) (map[string]any, error) {
	docs, err := YAMLDocs(ComposeFile(root))
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s: %d documents, want 1", ComposeFile(root), len(docs))
	}
	return docs[0], nil
}

// ComposeServices is the services of the compose file by name.
func ComposeServices(root string) (map[string]map[string]any, error) {
	c, err := Compose(root)
	if err != nil {
		return nil, err
	}
	raw, ok := c["services"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: no services", ComposeFile(root))
	}
	out := map[string]map[string]any{}
	for name, v := range raw {
		s, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: service %s: want a mapping", ComposeFile(root), name)
		}
		out[name] = s
	}
	return out, nil
}

// IsHedgeline says whether a compose service runs the hedgeline image
// (built from deploy/Dockerfile).
func IsHedgeline(svc map[string]any) bool {
	if b, ok := svc["build"].(map[string]any); ok && strings.HasSuffix(str(b, "dockerfile"), "deploy/Dockerfile") {
		return true
	}
	img := str(svc, "image")
	return img == "hedgeline" || strings.HasPrefix(img, "hedgeline:")
}

// ComposeInvocations is every hedgeline service of the compose file. Its
// command must be a list (exec form); env_file entries become shared
// sources (one per file, shared by every service naming it).
func ComposeInvocations(root string) ([]Invocation, error) {
	services, err := ComposeServices(root)
	if err != nil {
		return nil, err
	}
	file := ComposeFile(root)
	envFiles := map[string]*EnvSource{}
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Invocation
	for _, name := range names {
		svc := services[name]
		if !IsHedgeline(svc) {
			continue
		}
		where := fmt.Sprintf("%s: service %s", relPath(root, file), name)
		args, err := strList(svc["command"], where+": command")
		if err != nil {
			return nil, err
		}
		inv := Invocation{Where: where, Args: args, Env: map[string]string{}}
		env, err := composeEnv(svc["environment"], where)
		if err != nil {
			return nil, err
		}
		for k, v := range env {
			if strings.HasPrefix(k, "HEDGELINE_") {
				if strings.Contains(v, "${") { // from the operator's shell
					v = ""
				}
				inv.Env[k] = v
			}
		}
		if svc["env_file"] != nil {
			files, err := strList(svc["env_file"], where+": env_file")
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				path := filepath.Join(filepath.Dir(file), f)
				src, ok := envFiles[path]
				if !ok {
					if src, err = ReadEnvFile(path); err != nil {
						return nil, fmt.Errorf("%s: env_file: %w", where, err)
					}
					src.Where = relPath(root, path)
					envFiles[path] = src
				}
				inv.Shared = append(inv.Shared, src)
			}
		}
		out = append(out, inv)
	}
	return out, nil
}

// composeEnv reads a service's environment, a mapping or a KEY=VALUE list.
func composeEnv(v any, where string) (map[string]string, error) {
	out := map[string]string{}
	switch e := v.(type) {
	case nil:
	case map[string]any:
		for k, v := range e {
			if v == nil {
				out[k] = ""
			} else {
				out[k] = fmt.Sprint(v)
			}
		}
	case []any:
		list, err := strList(e, where+": environment")
		if err != nil {
			return nil, err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		return nil, fmt.Errorf("%s: environment: want a mapping or a list, got %T", where, v)
	}
	return out, nil
}

// ReadEnvFile reads KEY=VALUE lines (docker's env_file, systemd's
// EnvironmentFile); blank lines and # comments are skipped. Only
// HEDGELINE_* settings are kept; a malformed line is an error.
func ReadEnvFile(path string) (*EnvSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src := &EnvSource{Where: path, Vars: map[string]string{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE, got %q", path, n, line)
		}
		if strings.HasPrefix(k, "HEDGELINE_") {
			src.Vars[k] = v
		}
	}
	return src, sc.Err()
}
