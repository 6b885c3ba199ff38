package deploycheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Data source types of the dashboards' queries.
const (
	ClickHouseType = "grafana-clickhouse-datasource"
	PrometheusType = "prometheus"
)

// Query is one query of a dashboard: a panel's target or a template
// variable's.
type Query struct {
	Where      string // file, panel title and refId, or variable name
	Datasource string // data source type
	UID        string // data source uid
	Text       string // SQL (rawSql) or PromQL (expr)
	Variable   string // the variable it fills, for a variable's query
}

// Dashboards is every dashboard JSON file under root/grafana.
func Dashboards(root string) ([]string, error) {
	return Files(filepath.Join(root, "grafana"), ".json")
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
	Templ  struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Datasource *dsRef `json:"datasource"`
			Query      any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title      string  `json:"title"`
	Type       string  `json:"type"`
	Datasource *dsRef  `json:"datasource"`
	Panels     []panel `json:"panels"` // rows
	Targets    []struct {
		RefID      string `json:"refId"`
		Datasource *dsRef `json:"datasource"`
		RawSQL     string `json:"rawSql"`
		Expr       string `json:"expr"`
	} `json:"targets"`
}

// DashboardQueries reads every query of a dashboard file (under root). A
// target without a data source of its own uses its panel's.
func DashboardQueries(root, file string) (uid string, qs []Query, err error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", nil, fmt.Errorf("deploycheck: %w", err)
	}
	path := relPath(root, file)
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, v := range d.Templ.List {
		if v.Type != "query" {
			continue
		}
		if v.Datasource == nil {
			return "", nil, fmt.Errorf("%s: variable %s: no data source", path, v.Name)
		}
		text, ok := v.Query.(string)
		if !ok {
			return "", nil, fmt.Errorf("%s: variable %s: query is %T, want the SQL as a string", path, v.Name, v.Query)
		}
		qs = append(qs, Query{Where: fmt.Sprintf("%s: variable %s", path, v.Name), Datasource: v.Datasource.Type,
			UID: v.Datasource.UID, Text: text, Variable: v.Name})
	}
	var walk func(ps []panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if err := walk(p.Panels); err != nil {
				return err
			}
			for _, t := range p.Targets {
				ds := t.Datasource
				if ds == nil {
					ds = p.Datasource
				}
				if ds == nil {
					return fmt.Errorf("%s: panel %q: target %s has no data source", path, p.Title, t.RefID)
				}
				q := Query{Where: fmt.Sprintf("%s: panel %q target %s", path, p.Title, t.RefID), Datasource: ds.Type, UID: ds.UID}
				switch ds.Type {
				case ClickHouseType:
					q.Text = t.RawSQL
				case PrometheusType:
					q.Text = t.Expr
				default:
					return fmt.Errorf("%s: panel %q: data source type %q (want %s or %s)", path, p.Title, ds.Type, ClickHouseType, PrometheusType)
				}
				if strings.TrimSpace(q.Text) == "" {
					return fmt.Errorf("%s: no query text", q.Where)
				}
				qs = append(qs, q)
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return "", nil, err
	}
	return d.UID, qs, nil
}

// Range is a dashboard's time range and interval, for expanding macros.
type Range struct {
	From, To time.Time
	Interval time.Duration
}

var (
	macroCall = regexp.MustCompile(`\$__([A-Za-z_]+)\(([^()]*)\)`)
	macroBare = regexp.MustCompile(`\$__([A-Za-z_]+)`)
	// ${name}, ${name:format} and $name.
	variableRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::([a-z]+))?\}|\$([A-Za-z0-9_]+)`)
)

// ExpandClickHouse replaces the Grafana ClickHouse data source's macros
// (those the dashboards use, expanded as the plugin does) and dashboard
// variables (values per variable; formats singlequote, doublequote, csv
// and raw) in sql. Anything else starting with $ is an error, so a query
// using a macro the tests do not know fails loudly instead of reaching
// ClickHouse half expanded.
func ExpandClickHouse(sql string, r Range, vars map[string][]string) (string, error) {
	from, to := r.From.Unix(), r.To.Unix()
	var errs []string
	sql = macroCall.ReplaceAllStringFunc(sql, func(m string) string {
		sub := macroCall.FindStringSubmatch(m)
		col := strings.TrimSpace(sub[2])
		switch sub[1] {
		case "timeFilter":
			return fmt.Sprintf("%s >= toDateTime(%d) AND %s <= toDateTime(%d)", col, from, col, to)
		case "timeFilter_ms":
			return fmt.Sprintf("%s >= fromUnixTimestamp64Milli(%d) AND %s <= fromUnixTimestamp64Milli(%d)", col, r.From.UnixMilli(), col, r.To.UnixMilli())
		case "timeInterval":
			return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", col, int64(r.Interval.Seconds()))
		}
		errs = append(errs, "unknown macro "+m)
		return m
	})
	sql = macroBare.ReplaceAllStringFunc(sql, func(m string) string {
		switch m[3:] {
		case "fromTime":
			return fmt.Sprintf("toDateTime(%d)", from)
		case "toTime":
			return fmt.Sprintf("toDateTime(%d)", to)
		case "interval_s":
			return fmt.Sprint(int64(r.Interval.Seconds()))
		}
		errs = append(errs, "unknown macro "+m)
		return m
	})
	sql = variableRef.ReplaceAllStringFunc(sql, func(m string) string {
		sub := variableRef.FindStringSubmatch(m)
		name, format := sub[1], sub[2]
		if name == "" {
			name = sub[3]
		}
		vals, ok := vars[name]
		if !ok {
			errs = append(errs, "unknown variable "+m)
			return m
		}
		quoted := make([]string, len(vals))
		for i, v := range vals {
			switch format {
			case "singlequote":
				quoted[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
			case "doublequote":
				quoted[i] = `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
			case "", "csv", "raw":
				quoted[i] = v
			default:
				errs = append(errs, "unknown variable format "+m)
			}
		}
		return strings.Join(quoted, ",")
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return sql, nil
}

// Datasources is the data sources provisioned for Grafana (compose's
// provisioning directory): uid -> its settings.
func Datasources(root string) (map[string]map[string]any, error) {
	files, err := Files(filepath.Join(root, "compose", "grafana", "provisioning", "datasources"), ".yaml", ".yml")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		docs, err := YAMLDocs(f)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			list, _ := d["datasources"].([]any)
			for _, ds := range list {
				ds, _ := ds.(map[string]any)
				uid := str(ds, "uid")
				if uid == "" {
					return nil, fmt.Errorf("%s: data source %q has no uid (the dashboards name theirs by uid)", f, str(ds, "name"))
				}
				out[uid] = ds
			}
		}
	}
	return out, nil
}
