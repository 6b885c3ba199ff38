package sinks

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Cluster mode (Config.Cluster, docs/clickhouse-cluster.md): one shard
// with any number of replicas. Every replica holds every row, so the
// projector's FINAL reads, its state reads after its own inserts and the
// parked-event mutations behave as on a single server; no Distributed
// layer. Each migration statement is rewritten by ClusterStatement: the
// DDL runs ON CLUSTER, and MergeTree-family engines become their
// Replicated* twins with the same arguments.

// ReplicaPath and ReplicaName are the Keeper path and replica name of
// every replicated table. {uuid} ties the path to the table's data rather
// than its name, so EXCHANGE TABLES (a replay's swap) and RENAME keep each
// replica on the right path; {shard} and {replica} are macros each server
// of the cluster must define. They equal ClickHouse's defaults
// (default_replica_path, default_replica_name) but are spelled out so the
// layout does not depend on a server setting.
const (
	ReplicaPath = "/clickhouse/tables/{uuid}/{shard}"
	ReplicaName = "{replica}"
)

// clusterNameRE matches a cluster name as remote_servers defines it (an
// XML element name).
var clusterNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// replicable are the engines ClusterStatement turns into Replicated*.
var replicable = []string{
	"MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree", "CollapsingMergeTree",
	"VersionedCollapsingMergeTree", "GraphiteMergeTree", "CoalescingMergeTree",
}

// stateless are engines that hold no rows of their own: the same
// definition on every replica is right as it is.
var stateless = []string{"Null", "Distributed", "Merge", "Dictionary"}

// onCluster is the clause ClusterStatement inserts.
func onCluster(cluster string) string { return " ON CLUSTER " + quoteIdent(cluster) }

// ClusterStatement rewrites one migration statement to run on every
// replica of cluster:
//
//   - CREATE TABLE / MATERIALIZED VIEW: ON CLUSTER after the name, and a
//     MergeTree-family ENGINE becomes Replicated* with ReplicaPath and
//     ReplicaName before its own arguments (a version column stays the
//     version column). Replicated* and row-less engines (Null,
//     Distributed, Merge, Dictionary) are kept; any other engine, or none
//     (the server's default), is an error: its rows would live on one
//     server only. CREATE TABLE x AS y copies y's (already replicated)
//     engine.
//   - CREATE [OR REPLACE] VIEW, CREATE DICTIONARY, ALTER TABLE, DROP,
//     TRUNCATE: ON CLUSTER after the name.
//   - RENAME, EXCHANGE: ON CLUSTER at the end.
//   - INSERT: unchanged (a replicated table copies its rows to every
//     replica).
//
// Anything else, and a statement that already names a cluster, is an
// error, so a new migration that the rewrite does not understand fails
// loudly instead of creating something on one server only.
func ClusterStatement(stmt, cluster string) (string, error) {
	return ClusterRewrite{Cluster: cluster}.Statement(stmt)
}

// ClusterRewrite rewrites statements for a cluster, as ClusterStatement
// does, and qualifies the queries' references to its Objects with
// Database. A server runs the DDL it receives ON CLUSTER in its own
// default database: an unqualified table in a view's query (or a CREATE
// TABLE ... AS) would be looked up there, not in the initiator's current
// database (ClickHouse issues 8445, 37318).
type ClusterRewrite struct {
	Cluster string
	// Database qualifies, after FROM and JOIN, the tables and views named
	// in Objects (a parameterized view's call too); "" qualifies nothing.
	Database string
	Objects  []string
}

// Statement rewrites one statement (see ClusterStatement).
func (r ClusterRewrite) Statement(stmt string) (string, error) {
	cluster := r.Cluster
	if !clusterNameRE.MatchString(cluster) {
		return "", fmt.Errorf("cluster name %q: want letters, digits, '_', '-' and '.'", cluster)
	}
	toks, err := lexSQL(stmt)
	if err != nil {
		return "", err
	}
	if len(toks) == 0 {
		return "", errors.New("empty statement")
	}
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].depth == 0 && toks[i].is("ON") && toks[i+1].is("CLUSTER") {
			return "", errors.New("statement already has an ON CLUSTER clause: migrations must not name a cluster")
		}
	}
	p := &stmtParser{toks: toks}
	on := onCluster(cluster)
	var edits []edit
	switch {
	case p.accept("CREATE"):
		p.accept("OR", "REPLACE")
		var kind string
		switch {
		case p.accept("TABLE"):
			kind = "TABLE"
		case p.accept("MATERIALIZED", "VIEW"):
			kind = "MATERIALIZED VIEW"
		case p.accept("VIEW"):
			kind = "VIEW"
		case p.accept("DICTIONARY"):
			kind = "DICTIONARY"
		default:
			return "", fmt.Errorf("CREATE %s: not supported in cluster mode (tables, views, materialized views and dictionaries are)", p.peekText())
		}
		p.accept("IF", "NOT", "EXISTS")
		end, err := p.name()
		if err != nil {
			return "", fmt.Errorf("CREATE %s: %w", kind, err)
		}
		if p.accept("UUID") { // CREATE TABLE t UUID '...' ON CLUSTER c
			if p.i >= len(toks) || toks[p.i].kind != tokString {
				return "", fmt.Errorf("CREATE %s: UUID without a string", kind)
			}
			end = toks[p.i].end
			p.i++
		}
		edits = append(edits, edit{at: end, text: on})
		if kind != "DICTIONARY" {
			edits = append(edits, r.qualify(toks[p.i:], kind == "TABLE")...)
		}
		if kind == "TABLE" || kind == "MATERIALIZED VIEW" {
			e, err := p.engine(kind)
			if err != nil {
				return "", err
			}
			edits = append(edits, e...)
		}
	case p.accept("ALTER", "TABLE"):
		end, err := p.name()
		if err != nil {
			return "", fmt.Errorf("ALTER TABLE: %w", err)
		}
		edits = append(edits, edit{at: end, text: on})
		edits = append(edits, r.qualify(toks[p.i:], false)...)
	case p.accept("DROP"), p.accept("TRUNCATE"):
		verb := strings.ToUpper(toks[0].text)
		if !p.accept("TABLE") && !p.accept("VIEW") && !p.accept("DICTIONARY") && verb == "DROP" {
			return "", fmt.Errorf("DROP %s: not supported in cluster mode (tables, views and dictionaries are)", p.peekText())
		}
		p.accept("IF", "EXISTS")
		end, err := p.name()
		if err != nil {
			return "", fmt.Errorf("%s: %w", verb, err)
		}
		edits = append(edits, edit{at: end, text: on})
	case p.accept("RENAME"), p.accept("EXCHANGE"):
		edits = append(edits, edit{at: toks[len(toks)-1].end, text: on})
	case p.accept("INSERT"):
		return stmt, nil
	default:
		return "", fmt.Errorf("%s statements are not supported in cluster mode (CREATE, ALTER TABLE, DROP, TRUNCATE, RENAME, EXCHANGE and INSERT are)", p.peekText())
	}
	slices.SortFunc(edits, func(a, b edit) int { return b.at - a.at })
	out := stmt
	for _, e := range edits {
		out = out[:e.at] + e.text + out[e.at+e.cut:]
	}
	return out, nil
}

// qualify prefixes Database to each reference to one of Objects that
// follows FROM or JOIN unqualified (and, if copied, to the table a CREATE
// TABLE x AS y copies: toks starts at its AS).
func (r ClusterRewrite) qualify(toks []token, copied bool) []edit {
	if r.Database == "" {
		return nil
	}
	var out []edit
	for i := 0; i+1 < len(toks); i++ {
		if !toks[i].is("FROM") && !toks[i].is("JOIN") && !(copied && i == 0 && toks[i].is("AS")) {
			continue
		}
		n := toks[i+1]
		if n.kind != tokWord && n.kind != tokQuoted || i+2 < len(toks) && toks[i+2].text == "." {
			continue
		}
		if slices.Contains(r.Objects, unquoteIdent(n.text)) {
			out = append(out, edit{at: n.start, text: quoteIdent(r.Database) + "."})
		}
	}
	return out
}

// CreatedObject is the table, view or dictionary a CREATE statement makes
// (unqualified, unquoted), or "".
func CreatedObject(stmt string) string {
	toks, err := lexSQL(stmt)
	if err != nil {
		return ""
	}
	p := &stmtParser{toks: toks}
	if !p.accept("CREATE") {
		return ""
	}
	p.accept("OR", "REPLACE")
	if !p.accept("TABLE") && !p.accept("VIEW") && !p.accept("MATERIALIZED", "VIEW") && !p.accept("DICTIONARY") {
		return ""
	}
	p.accept("IF", "NOT", "EXISTS")
	if _, err := p.name(); err != nil {
		return ""
	}
	return unquoteIdent(toks[p.i-1].text)
}

// unquoteIdent strips the quotes of a `quoted` or "quoted" identifier.
func unquoteIdent(s string) string {
	if len(s) < 2 || (s[0] != '`' && s[0] != '"') || s[len(s)-1] != s[0] {
		return s
	}
	q, in := s[0], s[1:len(s)-1]
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		if (in[i] == '\\' || in[i] == q) && i+1 < len(in) {
			i++ // \x or a doubled quote
		}
		b.WriteByte(in[i])
	}
	return b.String()
}

// edit replaces cut bytes at offset at with text.
type edit struct {
	at, cut int
	text    string
}

type stmtParser struct {
	toks []token
	i    int
}

// accept consumes the words (case-insensitive) if they come next.
func (p *stmtParser) accept(words ...string) bool {
	if p.i+len(words) > len(p.toks) {
		return false
	}
	for j, w := range words {
		if !p.toks[p.i+j].is(w) {
			return false
		}
	}
	p.i += len(words)
	return true
}

func (p *stmtParser) peekText() string {
	if p.i >= len(p.toks) {
		return "(end)"
	}
	return strings.ToUpper(p.toks[p.i].text)
}

// name consumes [db.]name and returns the offset just after it.
func (p *stmtParser) name() (int, error) {
	ident := func() bool {
		if p.i < len(p.toks) && (p.toks[p.i].kind == tokWord || p.toks[p.i].kind == tokQuoted) {
			p.i++
			return true
		}
		return false
	}
	if !ident() {
		return 0, fmt.Errorf("want a name, got %s", p.peekText())
	}
	if p.i+1 < len(p.toks) && p.toks[p.i].text == "." {
		p.i++
		if !ident() {
			return 0, fmt.Errorf("want a name after '.', got %s", p.peekText())
		}
	}
	return p.toks[p.i-1].end, nil
}

// engine finds the ENGINE clause of a CREATE TABLE or MATERIALIZED VIEW
// (at the top level, before an AS SELECT) and makes it replicated.
func (p *stmtParser) engine(kind string) ([]edit, error) {
	copied, to := false, false
	for i := p.i; i < len(p.toks); i++ {
		t := p.toks[i]
		if t.depth != 0 {
			continue
		}
		if t.is("AS") {
			if i+1 < len(p.toks) && (p.toks[i+1].is("SELECT") || p.toks[i+1].is("WITH") || p.toks[i+1].text == "(") {
				break // the query; an engine comes before it
			}
			copied = true // CREATE TABLE x AS y: y's engine
			continue
		}
		if t.is("TO") && kind == "MATERIALIZED VIEW" {
			to = true
			continue
		}
		if !t.is("ENGINE") {
			continue
		}
		j := i + 1
		if j < len(p.toks) && p.toks[j].text == "=" {
			j++
		}
		if j >= len(p.toks) || p.toks[j].kind != tokWord {
			return nil, fmt.Errorf("CREATE %s: ENGINE without an engine name", kind)
		}
		name := p.toks[j]
		switch {
		case strings.HasPrefix(name.text, "Replicated"), slices.Contains(stateless, name.text):
			return nil, nil
		case !slices.Contains(replicable, name.text):
			return nil, fmt.Errorf("CREATE %s: engine %s keeps its rows on one server; cluster mode needs a MergeTree-family engine (made Replicated*)", kind, name.text)
		}
		args := quoteString(ReplicaPath) + ", " + quoteString(ReplicaName)
		edits := []edit{{at: name.start, cut: len(name.text), text: "Replicated" + name.text}}
		switch {
		case j+2 < len(p.toks) && p.toks[j+1].text == "(" && p.toks[j+2].text == ")":
			edits = append(edits, edit{at: p.toks[j+1].end, text: args})
		case j+1 < len(p.toks) && p.toks[j+1].text == "(":
			edits = append(edits, edit{at: p.toks[j+1].end, text: args + ", "})
		default:
			edits = append(edits, edit{at: name.end, text: "(" + args + ")"})
		}
		return edits, nil
	}
	if copied || to {
		return nil, nil
	}
	return nil, fmt.Errorf("CREATE %s without ENGINE: cluster mode needs an explicit MergeTree-family engine", kind)
}

// quoteString single-quotes a ClickHouse string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

type tokKind int

const (
	tokWord   tokKind = iota // keyword, bare identifier or number
	tokQuoted                // `identifier` or "identifier"
	tokString                // 'literal'
	tokPunct                 // one character: ( ) , . = ; ...
)

// token is a lexeme of a statement: text is src[start:end]; depth is the
// parenthesis/bracket nesting it sits in (an opening bracket is outside
// what it opens, its closing one too).
type token struct {
	kind       tokKind
	text       string
	start, end int
	depth      int
}

func (t token) is(word string) bool { return t.kind == tokWord && strings.EqualFold(t.text, word) }

// lexSQL splits a statement into tokens, skipping blanks and comments
// (--, # and nested /* */). It knows only enough SQL to find where a
// statement's clauses are: quotes are honoured so a keyword inside a
// string, a quoted name or a comment is never taken for one.
func lexSQL(src string) ([]token, error) {
	var out []token
	depth := 0
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(src[i:], "--") || c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			start, nest := i, 0
			for {
				if i >= len(src) {
					return nil, fmt.Errorf("unterminated comment at offset %d", start)
				}
				if strings.HasPrefix(src[i:], "/*") {
					nest++
					i += 2
				} else if strings.HasPrefix(src[i:], "*/") {
					nest--
					i += 2
					if nest == 0 {
						break
					}
				} else {
					i++
				}
			}
		case c == '\'' || c == '`' || c == '"':
			start := i
			i++
			for {
				if i >= len(src) {
					return nil, fmt.Errorf("unterminated %c at offset %d", c, start)
				}
				if src[i] == '\\' {
					i += 2
					continue
				}
				if src[i] == c {
					if i+1 < len(src) && src[i+1] == c { // doubled quote
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
			kind := tokQuoted
			if c == '\'' {
				kind = tokString
			}
			out = append(out, token{kind: kind, text: src[start:i], start: start, end: i, depth: depth})
		case isWordByte(c):
			start := i
			for i < len(src) && isWordByte(src[i]) {
				i++
			}
			out = append(out, token{kind: tokWord, text: src[start:i], start: start, end: i, depth: depth})
		default:
			if c == ')' || c == ']' {
				depth--
			}
			out = append(out, token{kind: tokPunct, text: src[i : i+1], start: i, end: i + 1, depth: depth})
			if c == '(' || c == '[' {
				depth++
			}
			i++
		}
	}
	if depth != 0 {
		return nil, errors.New("unbalanced parentheses")
	}
	return out, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
