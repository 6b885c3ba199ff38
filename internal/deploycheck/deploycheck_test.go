package deploycheck

// The deployment files checked without the binary: every YAML and JSON
// parses, the Kubernetes builds hold only known kinds and their core
// objects decode strictly into the k8s.io/api types and reference each
// other correctly, the KafkaUser may use every topic, compose's services,
// secrets, volumes and Prometheus targets agree, the dashboards name the
// provisioned data sources and documented metrics, and the Dockerfile
// builds the static binary. The checks that need the binary (flags,
// generated KafkaTopics, the dashboards' SQL against ClickHouse) are in
// pipeline/deploy_test.go.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/stack"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func root(t *testing.T) string {
	t.Helper()
	r, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEveryYAMLAndJSONParses(t *testing.T) {
	r := root(t)
	files, err := Files(r, ".yaml", ".yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("%d YAML files under %s: the walk is wrong", len(files), r)
	}
	for _, f := range files {
		docs, err := YAMLDocs(f)
		if err != nil {
			t.Error(err)
		} else if len(docs) == 0 {
			t.Errorf("%s: no document", f)
		}
	}
	jsons, err := Files(r, ".json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range jsons {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// A duplicate key is an error (YAML would keep one silently).
func TestYAMLDuplicateKeyFails(t *testing.T) {
	if _, err := yamlDocs("dup", []byte("a: 1\na: 2\n")); err == nil {
		t.Error("duplicate key accepted")
	}
}

// strimziKinds are the custom resources the manifests may hold.
var strimziKinds = map[string]bool{"Kafka": true, "KafkaNodePool": true, "KafkaTopic": true, "KafkaUser": true}

// decodeStrict decodes a core object into its k8s.io/api type, refusing
// unknown and duplicate fields; it returns the typed object.
func decodeStrict(o Object) (any, error) {
	var v any
	switch o.Kind {
	case "Deployment":
		v = &appsv1.Deployment{}
	case "StatefulSet":
		v = &appsv1.StatefulSet{}
	case "Service":
		v = &corev1.Service{}
	case "ConfigMap":
		v = &corev1.ConfigMap{}
	case "Secret":
		v = &corev1.Secret{}
	case "Namespace":
		v = &corev1.Namespace{}
	default:
		return nil, fmt.Errorf("kind %s is not one the checks know", o.Kind)
	}
	if err := yaml.UnmarshalStrict(o.YAML, v); err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	return v, nil
}

func TestStrictDecodeCatchesUnknownFields(t *testing.T) {
	o := Object{Kind: "Deployment", Name: "x", YAML: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n")}
	if _, err := decodeStrict(o); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("a misspelt field decoded: %v", err)
	}
}

// Secrets the pods mount that the build does not hold: the Strimzi
// operators make these.
var operatorSecrets = map[string]string{
	"hedgeline-cluster-ca-cert": "Strimzi cluster operator (the Kafka's cluster CA)",
	"hedgeline":                 "Strimzi user operator (the KafkaUser's password)",
	"hedgeline-clickhouse-tls":  "the operator of the deployment (docs/deploy.md)",
}

func TestKubernetesBuilds(t *testing.T) {
	r := root(t)
	dirs, err := Kustomizations(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 2 {
		t.Fatalf("kustomizations %v: want the base and an overlay", dirs)
	}
	for _, dir := range dirs {
		t.Run(strings.TrimPrefix(dir, r+"/"), func(t *testing.T) {
			objs, err := Build(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkKubeObjects(t, dir, objs, strings.Contains(dir, "/overlays/"))
		})
	}
}

func checkKubeObjects(t *testing.T, dir string, objs []Object, complete bool) {
	kafka := ""
	typed := map[string]any{}
	for _, o := range objs {
		api := str(o.Map, "apiVersion")
		if strimziKinds[o.Kind] {
			if api != "kafka.strimzi.io/v1beta2" {
				t.Errorf("%s %s: apiVersion %s, want kafka.strimzi.io/v1beta2", o.Kind, o.Name, api)
			}
			if o.Kind == "Kafka" {
				kafka = o.Name
			}
			continue
		}
		v, err := decodeStrict(o)
		if err != nil {
			t.Error(err)
			continue
		}
		typed[o.Kind+"/"+o.Name] = v
	}
	if kafka == "" {
		t.Fatal("no Kafka resource")
	}
	for _, o := range objs {
		if o.Kind != "Kafka" && strimziKinds[o.Kind] {
			md, _ := o.Map["metadata"].(map[string]any)
			labels, _ := md["labels"].(map[string]any)
			if got := str(labels, "strimzi.io/cluster"); got != kafka {
				t.Errorf("%s %s: label strimzi.io/cluster %q, want the Kafka %q", o.Kind, o.Name, got, kafka)
			}
		}
	}

	var pods []podOf
	for key, v := range typed {
		switch o := v.(type) {
		case *appsv1.Deployment:
			pods = append(pods, podOf{key, o.Spec.Selector.MatchLabels, o.Spec.Template, nil})
		case *appsv1.StatefulSet:
			var claims []string
			for _, c := range o.Spec.VolumeClaimTemplates {
				claims = append(claims, c.Name)
			}
			pods = append(pods, podOf{key, o.Spec.Selector.MatchLabels, o.Spec.Template, claims})
			if o.Spec.ServiceName == "" || typed["Service/"+o.Spec.ServiceName] == nil {
				t.Errorf("%s: serviceName %q is not a Service of the build", key, o.Spec.ServiceName)
			}
		}
	}
	if len(pods) < 5 {
		t.Errorf("%d workloads decoded, want ClickHouse and the four hedgeline roles", len(pods))
	}
	for _, p := range pods {
		checkPod(t, p, typed, complete)
	}
	// Every Service selects some pods, on ports they name.
	for key, v := range typed {
		svc, ok := v.(*corev1.Service)
		if !ok {
			continue
		}
		var match *podOf
		for i := range pods {
			if selects(svc.Spec.Selector, pods[i].tmpl.Labels) {
				match = &pods[i]
			}
		}
		if match == nil {
			t.Errorf("%s: selector %v matches no pod template", key, svc.Spec.Selector)
			continue
		}
		for _, port := range svc.Spec.Ports {
			if port.TargetPort.StrVal != "" && containerPort(match.tmpl.Spec, port.TargetPort.StrVal) == 0 {
				t.Errorf("%s: targetPort %s is not a port of %s", key, port.TargetPort.StrVal, match.key)
			}
		}
	}
}

type podOf struct {
	key      string
	selector map[string]string
	tmpl     corev1.PodTemplateSpec
	claims   []string
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func containerPort(ps corev1.PodSpec, name string) int32 {
	for _, c := range ps.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
	}
	return 0
}

// checkPod: the selector matches the template, mounts name volumes that
// exist, Secrets and ConfigMaps are in the build (or made by an operator),
// and the hedgeline container's probes and scrape annotations point at its
// --metrics-listen port.
func checkPod(t *testing.T, p podOf, typed map[string]any, complete bool) {
	t.Helper()
	if !selects(p.selector, p.tmpl.Labels) {
		t.Errorf("%s: selector %v does not match the template's labels %v", p.key, p.selector, p.tmpl.Labels)
	}
	ps := p.tmpl.Spec
	if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: runAsNonRoot is not set", p.key)
	}
	volumes := map[string]bool{}
	for _, c := range p.claims {
		volumes[c] = true
	}
	for _, v := range ps.Volumes {
		volumes[v.Name] = true
		switch {
		case v.Secret != nil:
			if typed["Secret/"+v.Secret.SecretName] == nil && operatorSecrets[v.Secret.SecretName] == "" && complete {
				t.Errorf("%s: volume %s: Secret %s is neither in the build nor made by an operator", p.key, v.Name, v.Secret.SecretName)
			}
		case v.ConfigMap != nil:
			if typed["ConfigMap/"+v.ConfigMap.Name] == nil {
				t.Errorf("%s: volume %s: ConfigMap %s is not in the build", p.key, v.Name, v.ConfigMap.Name)
			}
		}
	}
	var hl *corev1.Container
	for i, c := range ps.Containers {
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s: container %s mounts %s, which is no volume", p.key, c.Name, m.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if ref := e.ValueFrom.SecretKeyRef; ref != nil && complete && typed["Secret/"+ref.Name] == nil && operatorSecrets[ref.Name] == "" {
				t.Errorf("%s: env %s: Secret %s is not in the build", p.key, e.Name, ref.Name)
			}
			if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil && complete {
				cm, _ := typed["ConfigMap/"+ref.Name].(*corev1.ConfigMap)
				if cm == nil {
					t.Errorf("%s: env %s: ConfigMap %s is not in the build", p.key, e.Name, ref.Name)
				} else if _, ok := cm.Data[ref.Key]; !ok {
					t.Errorf("%s: env %s: ConfigMap %s has no key %s", p.key, e.Name, ref.Name, ref.Key)
				}
			}
		}
		for _, probe := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
			if probe == nil || probe.HTTPGet == nil {
				continue
			}
			if name := probe.HTTPGet.Port.StrVal; name != "" && containerPort(ps, name) == 0 {
				t.Errorf("%s: container %s: a probe uses port %s, which it does not name", p.key, c.Name, name)
			}
		}
		if c.Name == HedgelineContainer {
			hl = &ps.Containers[i]
		}
	}
	if hl == nil {
		return
	}
	if hl.SecurityContext == nil || hl.SecurityContext.ReadOnlyRootFilesystem == nil || !*hl.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("%s: the hedgeline container's root filesystem is writable", p.key)
	}
	metrics := containerPort(ps, "metrics")
	if metrics == 0 {
		t.Errorf("%s: the hedgeline container has no port named metrics", p.key)
		return
	}
	for name, probe := range map[string]*corev1.Probe{"startup": hl.StartupProbe, "readiness": hl.ReadinessProbe, "liveness": hl.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("%s: no %s probe over HTTP", p.key, name)
		} else if probe.HTTPGet.Path != "/healthz" || probe.HTTPGet.Port.StrVal != "metrics" {
			t.Errorf("%s: %s probe GET %s on port %s, want /healthz on the metrics port", p.key, name, probe.HTTPGet.Path, probe.HTTPGet.Port.String())
		}
	}
	a := p.tmpl.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != fmt.Sprint(metrics) || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("%s: scrape annotations %v, want scrape true, port %d, path /metrics", p.key, a, metrics)
	}
}

// The pods' --metrics-listen port is the container port named metrics, and
// the ConfigMap's partitions and replication are those the KafkaTopics
// were generated with.
func TestKubeSettingsAgree(t *testing.T) {
	r := root(t)
	invs, err := KubeInvocations(r)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := GeneratedBy(KafkaTopicsFile(r))
	if err != nil {
		t.Fatal(err)
	}
	overlays, err := Overlays(r)
	if err != nil {
		t.Fatal(err)
	}
	builds := map[string][]Object{}
	for _, d := range overlays {
		if builds[relPath(r, d)], err = Build(d); err != nil {
			t.Fatal(err)
		}
	}
	if len(invs) < 4 {
		t.Fatalf("%d hedgeline containers, want chain, aggregates, sinks and serve", len(invs))
	}
	roles := map[string]bool{}
	for _, inv := range invs {
		if v, ok := FlagValue(inv.Args, "roles"); ok {
			for _, r := range strings.Split(v, ",") {
				roles[r] = true
			}
		}
		for _, flag := range []string{"partitions", "replication"} {
			want, _ := FlagValue(gen, flag)
			if inv.Command() == "serve" {
				continue // serve creates no topics
			}
			if got, ok := inv.Setting(flag); !ok || got != want {
				t.Errorf("%s: --%s %q, the KafkaTopics were generated with %s", inv.Where, flag, got, want)
			}
		}
		listen, ok := inv.Setting("metrics-listen")
		if !ok {
			t.Errorf("%s: no --metrics-listen: the probes have nothing to ask", inv.Where)
			continue
		}
		_, port, err := net.SplitHostPort(listen)
		if err != nil {
			t.Errorf("%s: --metrics-listen %q: %v", inv.Where, listen, err)
			continue
		}
		dir, rest, _ := strings.Cut(inv.Where, ": ")
		kind, name, _ := strings.Cut(rest, " ")
		o := Find(builds[dir], kind, name)
		if o == nil {
			t.Fatalf("%s: not in the build", inv.Where)
		}
		ps := PodSpec(*o)
		var p corev1.PodSpec
		b, _ := json.Marshal(ps)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if got := containerPort(p, "metrics"); fmt.Sprint(got) != port {
			t.Errorf("%s: container port metrics %d, --metrics-listen %s", inv.Where, got, listen)
		}
	}
	for _, r := range stack.AllRoles {
		if !roles[r] {
			t.Errorf("role %s runs in no pod (roles run: %v)", r, sortedKeys(roles))
		}
	}
}

// The KafkaUser's topic ACLs cover every topic the pipeline uses, with
// the operations it needs.
func TestKafkaUserACLsCoverTheCatalog(t *testing.T) {
	r := root(t)
	objs, err := Build(filepath.Join(r, "k8s", "base"))
	if err != nil {
		t.Fatal(err)
	}
	user := Find(objs, "KafkaUser", "hedgeline")
	if user == nil {
		t.Fatal("no KafkaUser hedgeline")
	}
	var u struct {
		Spec struct {
			Authentication struct{ Type string } `json:"authentication"`
			Authorization  struct {
				ACLs []struct {
					Resource struct {
						Type, Name  string
						PatternType string `json:"patternType"`
					} `json:"resource"`
					Operations []string `json:"operations"`
				} `json:"acls"`
			} `json:"authorization"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(user.YAML, &u); err != nil {
		t.Fatal(err)
	}
	if u.Spec.Authentication.Type != "scram-sha-512" {
		t.Errorf("KafkaUser authentication %q, want scram-sha-512", u.Spec.Authentication.Type)
	}
	need := []string{"Describe", "DescribeConfigs", "Read", "Write", "Create"}
	for _, spec := range stack.Topics(1, 1) {
		var ops []string
		for _, a := range u.Spec.Authorization.ACLs {
			res := a.Resource
			if res.Type != "topic" {
				continue
			}
			if res.Name == "*" || res.Name == spec.Name || res.PatternType == "prefix" && strings.HasPrefix(spec.Name, res.Name) {
				ops = append(ops, a.Operations...)
			}
		}
		for _, op := range need {
			if !slices.Contains(ops, op) {
				t.Errorf("topic %s: the KafkaUser may not %s it", spec.Name, op)
			}
		}
	}
}

func TestComposeIsConsistent(t *testing.T) {
	r := root(t)
	c, err := Compose(r)
	if err != nil {
		t.Fatal(err)
	}
	services, err := ComposeServices(r)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(ComposeFile(r))
	secrets, _ := c["secrets"].(map[string]any)
	for name, s := range secrets {
		s, _ := s.(map[string]any)
		if f := str(s, "file"); f == "" {
			t.Errorf("secret %s: no file", name)
		} else if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("secret %s: %v", name, err)
		}
	}
	volumes, _ := c["volumes"].(map[string]any)
	for name, svc := range services {
		switch deps := svc["depends_on"].(type) {
		case []any:
			for _, d := range deps {
				if services[fmt.Sprint(d)] == nil {
					t.Errorf("service %s depends on %v, no such service", name, d)
				}
			}
		case map[string]any:
			for d := range deps {
				if services[d] == nil {
					t.Errorf("service %s depends on %s, no such service", name, d)
				}
			}
		}
		if svc["secrets"] != nil {
			list, err := strList(svc["secrets"], name+": secrets")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range list {
				if secrets[s] == nil {
					t.Errorf("service %s uses secret %s, which compose.yaml does not define", name, s)
				}
			}
		}
		if svc["volumes"] != nil {
			list, err := strList(svc["volumes"], name+": volumes")
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range list {
				src, _, _ := strings.Cut(v, ":")
				if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
					if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
						t.Errorf("service %s mounts %s: %v", name, src, err)
					}
				} else if _, ok := volumes[src]; !ok {
					t.Errorf("service %s mounts volume %s, which compose.yaml does not declare", name, src)
				}
			}
		}
		if b, ok := svc["build"].(map[string]any); ok {
			if _, err := os.Stat(filepath.Join(dir, str(b, "context"), str(b, "dockerfile"))); err != nil {
				t.Errorf("service %s: build: %v", name, err)
			}
		}
	}

	// Prometheus scrapes exactly the hedgeline services that serve
	// metrics, on their --metrics-listen port.
	invs, err := ComposeInvocations(r)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, inv := range invs {
		listen, ok := inv.Setting("metrics-listen")
		if !ok {
			continue
		}
		_, port, err := net.SplitHostPort(listen)
		if err != nil {
			t.Fatalf("%s: --metrics-listen %q: %v", inv.Where, listen, err)
		}
		svc := inv.Where[strings.LastIndex(inv.Where, " ")+1:]
		want[svc+":"+port] = true
	}
	docs, err := YAMLDocs(filepath.Join(dir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	jobs, _ := docs[0]["scrape_configs"].([]any)
	for _, j := range jobs {
		j, _ := j.(map[string]any)
		sc, _ := j["static_configs"].([]any)
		for _, s := range sc {
			s, _ := s.(map[string]any)
			targets, err := strList(s["targets"], "targets")
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range targets {
				got[tg] = true
			}
		}
	}
	for tg := range want {
		if !got[tg] {
			t.Errorf("prometheus.yml does not scrape %s", tg)
		}
	}
	for tg := range got {
		if !want[tg] {
			t.Errorf("prometheus.yml scrapes %s, which no hedgeline service listens on", tg)
		}
	}
	if len(want) < 4 {
		t.Errorf("%d services serve metrics, want chain, aggregates, sinks and serve", len(want))
	}
}

// metricsDoc is the names of docs/metrics.md's table.
func metricsDoc(t *testing.T, r string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r, "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(hedgeline_[a-z0-9_]+)` \\|").FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	if len(out) < 10 {
		t.Fatalf("docs/metrics.md: %d metrics in its table: the pattern is wrong", len(out))
	}
	return out
}

func TestDashboardsUseProvisionedSourcesAndKnownMetrics(t *testing.T) {
	r := root(t)
	sources, err := Datasources(r)
	if err != nil {
		t.Fatal(err)
	}
	ch := sources["hedgeline-clickhouse"]
	if ch == nil {
		t.Fatal("no ClickHouse data source hedgeline-clickhouse")
	}
	jd, _ := ch["jsonData"].(map[string]any)
	if db := str(jd, "defaultDatabase"); db != sinks.DefaultDatabase {
		t.Errorf("ClickHouse data source database %q, the views are in %q", db, sinks.DefaultDatabase)
	}
	known := metricsDoc(t, r)
	dashboards, err := Dashboards(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(dashboards) < 2 {
		t.Fatalf("dashboards %v", dashboards)
	}
	uids := map[string]string{}
	metric := regexp.MustCompile(`\bhedgeline_[a-z0-9_]+`)
	seen := map[string]bool{}
	for _, f := range dashboards {
		uid, qs, err := DashboardQueries(r, f)
		if err != nil {
			t.Fatal(err)
		}
		if uid == "" || uids[uid] != "" {
			t.Errorf("%s: uid %q missing or also in %s", f, uid, uids[uid])
		}
		uids[uid] = f
		for _, q := range qs {
			ds := sources[q.UID]
			if ds == nil || str(ds, "type") != q.Datasource {
				t.Errorf("%s: data source %s (%s) is not provisioned", q.Where, q.UID, q.Datasource)
			}
			if q.Datasource != PrometheusType {
				continue
			}
			names := metric.FindAllString(q.Text, -1)
			if len(names) == 0 {
				t.Errorf("%s: no hedgeline metric in %q", q.Where, q.Text)
			}
			for _, n := range names {
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suffix); ok && known[b] {
						base = b
					}
				}
				if !known[base] {
					t.Errorf("%s: metric %s is not in docs/metrics.md", q.Where, n)
				}
				seen[base] = true
			}
		}
	}
	for _, want := range []string{"hedgeline_rejections_total", "hedgeline_consumer_lag_records", "hedgeline_hedge_latency_seconds"} {
		if !seen[want] {
			t.Errorf("no dashboard shows %s", want)
		}
	}
}

func TestExpandClickHouse(t *testing.T) {
	rg := Range{From: time.Unix(100, 0), To: time.Unix(200, 0), Interval: time.Hour}
	got, err := ExpandClickHouse("SELECT $__timeInterval(t) AS time WHERE $__timeFilter(t) AND s IN (${symbol:singlequote}) AND $__fromTime < $__toTime",
		rg, map[string][]string{"symbol": {"AAPL", "O'X"}})
	want := "SELECT toStartOfInterval(toDateTime(t), INTERVAL 3600 second) AS time WHERE t >= toDateTime(100) AND t <= toDateTime(200) AND s IN ('AAPL','O\\'X') AND toDateTime(100) < toDateTime(200)"
	if err != nil || got != want {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}
	for _, bad := range []string{"SELECT $__conditionalAll(x, $s)", "SELECT $other", "SELECT ${symbol:json}"} {
		if _, err := ExpandClickHouse(bad, rg, map[string][]string{"symbol": {"A"}}); err == nil {
			t.Errorf("%q expanded without an error", bad)
		}
	}
}

// The image: the Go of go.mod, a static binary without the embedded
// ClickHouse, a non-root user on distroless or scratch.
func TestDockerfile(t *testing.T) {
	r := root(t)
	b, err := os.ReadFile(filepath.Join(r, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	gomod, err := os.ReadFile(filepath.Join(r, "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	if goVersion == nil {
		t.Fatal("go.mod: no go line")
	}
	for _, want := range []string{
		"ARG GO_VERSION=" + goVersion[1] + "\n", "FROM golang:${GO_VERSION} AS build",
		"CGO_ENABLED=0 go build -tags nochdb", "-X main.version=${VERSION}", "./pipeline",
		`ENTRYPOINT ["/usr/local/bin/hedgeline"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if final := froms[len(froms)-1][1]; !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage FROM %s, want distroless/static or scratch", final)
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1][1], "0") || strings.HasPrefix(users[len(users)-1][1], "root") {
		t.Errorf("USER %v: want a non-root user last", users)
	}
	ignore, err := os.ReadFile(filepath.Join(r, "Dockerfile.dockerignore"))
	if err != nil || !strings.Contains(string(ignore), "deploy/compose/secrets") {
		t.Errorf("Dockerfile.dockerignore must keep deploy/compose/secrets out of the build context: %v", err)
	}
}

// The image's build: without cgo and with -tags nochdb no package of the
// binary needs cgo or purego (which would link it against libc).
func TestStaticBuildNeedsNoCgo(t *testing.T) {
	// go test puts its own go first on PATH.
	cmd := exec.Command("go", "list", "-tags", "nochdb", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", "github.com/hedgeline/hedgeline/pipeline")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, cgo, _ := strings.Cut(line, " ")
		n++
		if cgo != "0" {
			t.Errorf("%s has cgo files", pkg)
		}
		if strings.Contains(pkg, "purego") {
			t.Errorf("%s is in the static build: it links libc", pkg)
		}
	}
	if n < 100 {
		t.Errorf("go list listed %d packages", n)
	}
}

// Units run as their own user, and keep their data under their
// StateDirectory.
func TestSystemdUnits(t *testing.T) {
	r := root(t)
	units, err := Units(r)
	if err != nil {
		t.Fatal(err)
	}
	invs, err := SystemdInvocations(r)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for i, u := range units {
		names[filepath.Base(u.Path)] = true
		if len(u.Get("DynamicUser", false)) == 0 && len(u.Get("User", false)) == 0 {
			t.Errorf("%s: no User= or DynamicUser=", u.Path)
		}
		inv := invs[i]
		var dirs []string
		for _, s := range u.Get("StateDirectory", false) {
			for _, d := range strings.Fields(s) {
				dirs = append(dirs, "/var/lib/"+d)
			}
		}
		for _, flag := range []string{"data-dir", "state-dir", "dry-run-ledger"} {
			v, ok := inv.Setting(flag)
			if !ok {
				continue
			}
			if !slices.ContainsFunc(dirs, func(d string) bool { return v == d || strings.HasPrefix(v, d+"/") }) {
				t.Errorf("%s: --%s %s is not under its StateDirectory %v", u.Path, flag, v, dirs)
			}
		}
	}
	for _, want := range []string{"hedgeline.service", "hedgeline-broker.service", "hedgeline-clickhouse.service", "hedgeline-serve.service"} {
		if !names[want] {
			t.Errorf("no systemd/%s", want)
		}
	}
}
