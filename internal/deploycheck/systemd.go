package deploycheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Unit is one systemd unit file: its [Service] settings in order.
type Unit struct {
	Path     string
	Settings []UnitSetting
}

// UnitSetting is one KEY=VALUE line; Commented for a "#KEY=VALUE" line
// (an alternative the file documents, checked like the others).
type UnitSetting struct {
	Key, Value string
	Line       int
	Commented  bool
}

// Get is the values of key, commented lines included when asked.
func (u Unit) Get(key string, commented bool) []string {
	var out []string
	for _, s := range u.Settings {
		if s.Key == key && (commented || !s.Commented) {
			out = append(out, s.Value)
		}
	}
	return out
}

// Units reads every .service file under root/systemd.
func Units(root string) ([]Unit, error) {
	files, err := Files(filepath.Join(root, "systemd"), ".service")
	if err != nil {
		return nil, err
	}
	var out []Unit
	for _, path := range files {
		u, err := readUnit(path)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func readUnit(path string) (Unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return Unit{}, err
	}
	defer f.Close()
	u := Unit{Path: path}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "[") {
			continue
		}
		commented := false
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			// Only "#Key=Value" (no space) is a setting left out; "# text"
			// is prose.
			if rest == "" || rest[0] == ' ' || !strings.Contains(rest, "=") {
				continue
			}
			line, commented = rest, true
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Unit{}, fmt.Errorf("%s:%d: want Key=Value, got %q", path, n, line)
		}
		u.Settings = append(u.Settings, UnitSetting{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v), Line: n, Commented: commented})
	}
	return u, sc.Err()
}

// Binary is where the units expect hedgeline.
const Binary = "/usr/local/bin/hedgeline"

// EtcDir is where the units read their environment files; deploy/ holds
// them by the same name.
const EtcDir = "/etc/hedgeline/"

// SystemdInvocations is the ExecStart of every unit: the binary, then the
// command line (split on spaces; the units quote nothing). Environment=
// lines (commented ones too) are the unit's own settings; an
// EnvironmentFile=/etc/hedgeline/NAME is deploy/NAME, shared.
func SystemdInvocations(root string) ([]Invocation, error) {
	units, err := Units(root)
	if err != nil {
		return nil, err
	}
	files := map[string]*EnvSource{}
	var out []Invocation
	for _, u := range units {
		execs := u.Get("ExecStart", false)
		if len(execs) != 1 {
			return nil, fmt.Errorf("%s: %d ExecStart lines, want 1", u.Path, len(execs))
		}
		f := strings.Fields(execs[0])
		if len(f) < 2 || f[0] != Binary {
			return nil, fmt.Errorf("%s: ExecStart %q: want %s COMMAND [FLAGS]", u.Path, execs[0], Binary)
		}
		inv := Invocation{Where: relPath(root, u.Path), Args: f[1:], Env: map[string]string{}}
		for _, e := range u.Get("Environment", true) {
			for _, kv := range strings.Fields(e) {
				k, v, _ := strings.Cut(kv, "=")
				if strings.HasPrefix(k, "HEDGELINE_") {
					inv.Env[k] = v
				}
			}
		}
		for _, ef := range u.Get("EnvironmentFile", false) {
			name, ok := strings.CutPrefix(strings.TrimPrefix(ef, "-"), EtcDir)
			if !ok {
				return nil, fmt.Errorf("%s: EnvironmentFile %s: want a file under %s, which deploy/ holds", u.Path, ef, EtcDir)
			}
			path := filepath.Join(root, name)
			src, ok := files[path]
			if !ok {
				if src, err = ReadEnvFile(path); err != nil {
					return nil, fmt.Errorf("%s: EnvironmentFile %s: %w", u.Path, ef, err)
				}
				src.Where = relPath(root, path)
				files[path] = src
			}
			inv.Shared = append(inv.Shared, src)
		}
		out = append(out, inv)
	}
	return out, nil
}
