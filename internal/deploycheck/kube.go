package deploycheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// HedgelineContainer is the name of the hedgeline container in every pod
// of the manifests: how the checks find it whatever the image is called.
const HedgelineContainer = "hedgeline"

// Object is one resource of a kustomize build.
type Object struct {
	Kind, Name string
	YAML       []byte         // the resource alone, for a typed decode
	Map        map[string]any // the resource decoded generically
}

// Kustomizations is every directory under root/k8s holding a
// kustomization.yaml, sorted (base before overlays).
func Kustomizations(root string) ([]string, error) {
	files, err := Files(filepath.Join(root, "k8s"), "/kustomization.yaml")
	if err != nil {
		return nil, err
	}
	dirs := make([]string, len(files))
	for i, f := range files {
		dirs[i] = filepath.Dir(f)
	}
	return dirs, nil
}

// Overlays is the kustomizations under root/k8s/overlays: what is applied.
func Overlays(root string) ([]string, error) {
	all, err := Kustomizations(root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range all {
		if strings.Contains(d, string(filepath.Separator)+"overlays"+string(filepath.Separator)) {
			out = append(out, d)
		}
	}
	return out, nil
}

// Build runs kustomize on dir, as `kubectl kustomize dir` does.
func Build(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []Object
	for _, r := range res.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s %s: %w", dir, r.GetKind(), r.GetName(), err)
		}
		docs, err := yamlDocs(dir, b)
		if err != nil || len(docs) != 1 {
			return nil, fmt.Errorf("kustomize build %s: %s %s: %d documents, %v", dir, r.GetKind(), r.GetName(), len(docs), err)
		}
		out = append(out, Object{Kind: r.GetKind(), Name: r.GetName(), YAML: b, Map: docs[0]})
	}
	return out, nil
}

// Find is the object of kind and name in objs, or nil.
func Find(objs []Object, kind, name string) *Object {
	for i := range objs {
		if objs[i].Kind == kind && objs[i].Name == name {
			return &objs[i]
		}
	}
	return nil
}

// PodSpec is the pod template's spec of a Deployment, StatefulSet,
// DaemonSet or Job, or nil.
func PodSpec(o Object) map[string]any {
	switch o.Kind {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
	default:
		return nil
	}
	spec, _ := o.Map["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	ps, _ := tmpl["spec"].(map[string]any)
	return ps
}

// KubeInvocations is the hedgeline container of every workload of every
// overlay's build. Its command must be empty (the image's entrypoint is
// the binary) and its args the command line; env entries are its own,
// envFrom ConfigMaps shared sources (that must be in the build).
func KubeInvocations(root string) ([]Invocation, error) {
	overlays, err := Overlays(root)
	if err != nil {
		return nil, err
	}
	if len(overlays) == 0 {
		return nil, fmt.Errorf("deploycheck: no overlay under %s", filepath.Join(root, "k8s", "overlays"))
	}
	var out []Invocation
	for _, dir := range overlays {
		objs, err := Build(dir)
		if err != nil {
			return nil, err
		}
		shared := map[string]*EnvSource{}
		for _, o := range objs {
			ps := PodSpec(o)
			if ps == nil {
				continue
			}
			containers, _ := ps["containers"].([]any)
			for _, c := range containers {
				c, _ := c.(map[string]any)
				if str(c, "name") != HedgelineContainer {
					continue
				}
				where := fmt.Sprintf("%s: %s %s", relPath(root, dir), o.Kind, o.Name)
				if c["command"] != nil {
					return nil, fmt.Errorf("%s: command is set; the image's entrypoint is hedgeline, give args", where)
				}
				args, err := strList(c["args"], where+": args")
				if err != nil {
					return nil, err
				}
				inv := Invocation{Where: where, Args: args, Env: map[string]string{}}
				env, _ := c["env"].([]any)
				for _, e := range env {
					e, _ := e.(map[string]any)
					if name := str(e, "name"); strings.HasPrefix(name, "HEDGELINE_") {
						inv.Env[name] = str(e, "value") // "" from a Secret or ConfigMap key
					}
				}
				from, _ := c["envFrom"].([]any)
				for _, f := range from {
					f, _ := f.(map[string]any)
					ref, _ := f["configMapRef"].(map[string]any)
					if ref == nil {
						return nil, fmt.Errorf("%s: envFrom other than a ConfigMap (a Secret's keys cannot be checked)", where)
					}
					name := str(ref, "name")
					src, ok := shared[name]
					if !ok {
						cm := Find(objs, "ConfigMap", name)
						if cm == nil {
							return nil, fmt.Errorf("%s: envFrom ConfigMap %s is not in the build", where, name)
						}
						src = &EnvSource{Where: fmt.Sprintf("%s: ConfigMap %s", relPath(root, dir), name), Vars: map[string]string{}}
						data, _ := cm.Map["data"].(map[string]any)
						for k, v := range data {
							if strings.HasPrefix(k, "HEDGELINE_") {
								src.Vars[k] = fmt.Sprint(v)
							}
						}
						shared[name] = src
					}
					inv.Shared = append(inv.Shared, src)
				}
				out = append(out, inv)
			}
		}
	}
	return out, nil
}

// KafkaTopicsFile is the generated KafkaTopics of the base.
func KafkaTopicsFile(root string) string {
	return filepath.Join(root, "k8s", "base", "kafka-topics.yaml")
}

// GeneratedBy is the hedgeline command line a generated file's first line
// names ("# Generated by `hedgeline ARGS`: ...").
func GeneratedBy(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deploycheck: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	_, rest, ok := strings.Cut(first, "`hedgeline ")
	cmd, _, ok2 := strings.Cut(rest, "`")
	if !ok || !ok2 {
		return nil, fmt.Errorf("%s: first line %q does not name the command that generated it", path, first)
	}
	return strings.Fields(cmd), nil
}

// FlagValue is the value of --name in args ("--name v" or "--name=v").
func FlagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Setting is what an invocation runs with for flag name: the command line,
// else its own environment, else a shared source (the first that has it).
func (i Invocation) Setting(name string) (string, bool) {
	if v, ok := FlagValue(i.Args, name); ok {
		return v, true
	}
	env := "HEDGELINE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if v, ok := i.Env[env]; ok {
		return v, true
	}
	// The last source wins, as in compose (env_file order) and Kubernetes
	// (envFrom order); the image's ENV is first.
	for j := len(i.Shared) - 1; j >= 0; j-- {
		if v, ok := i.Shared[j].Vars[env]; ok {
			return v, true
		}
	}
	return "", false
}

// sortedKeys is m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
