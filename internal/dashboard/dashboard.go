// Package dashboard reads the metric names a Grafana dashboard queries, so that a test can check that
// each one exists: a dashboard that queries a renamed metric shows "No data" rather than an error.
package dashboard

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Queries returns every PromQL expression of the dashboard: its panels' targets (rows' panels
// included) and its query variables.
func Queries(dashboard []byte) ([]string, error) {
	var doc struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(dashboard, &doc); err != nil {
		return nil, fmt.Errorf("reading the dashboard: %w", err)
	}
	var queries []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr != "" {
					queries = append(queries, t.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(doc.Panels)
	for _, v := range doc.Templating.List {
		if v.Type != "query" {
			continue
		}
		// A query variable's query is a string, or an object with a query string (Grafana 10).
		var q struct {
			Query string `json:"query"`
		}
		var s string
		if json.Unmarshal(v.Query, &s) != nil {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				return nil, fmt.Errorf("reading a variable's query: %w", err)
			}
			s = q.Query
		}
		if s != "" {
			queries = append(queries, variableQuery(s))
		}
	}
	return queries, nil
}

type panel struct {
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// variableQuery is the PromQL of a Grafana variable query: label_values(<expr>, <label>) and
// query_result(<expr>) name a series selector or an expression.
func variableQuery(q string) string {
	for _, fn := range []string{"label_values(", "query_result("} {
		if inner, ok := strings.CutPrefix(strings.TrimSpace(q), fn); ok {
			inner = strings.TrimSuffix(strings.TrimSpace(inner), ")")
			if fn == "label_values(" {
				if i := strings.LastIndex(inner, ","); i >= 0 {
					inner = inner[:i]
				}
			}
			return inner
		}
	}
	return q
}

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	matchers  = regexp.MustCompile(`\{[^}]*\}`)
	ranges    = regexp.MustCompile(`\[[^\]]*\]`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	variables = regexp.MustCompile(`\$\{?\w+\}?`)
	ident     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
)

// keywords are PromQL's operators and modifiers written as words.
var keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}

// MetricNames returns the metric names expr selects, sorted: the identifiers that are not functions
// (followed by "("), keywords, label names (in matchers and grouping clauses) or dashboard variables.
// A histogram's _bucket, _sum and _count series are named as written.
func MetricNames(expr string) []string {
	s := quoted.ReplaceAllString(expr, `""`)
	s = matchers.ReplaceAllString(s, "{}")
	s = ranges.ReplaceAllString(s, "[]")
	s = grouping.ReplaceAllString(s, " ")
	s = variables.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range ident.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || keywords[strings.ToLower(name)] {
			continue
		}
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // a number's exponent or unit: 1e3, 5m
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// AllMetricNames returns the metric names every query of the dashboard selects, sorted.
func AllMetricNames(dashboard []byte) ([]string, error) {
	queries, err := Queries(dashboard)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, q := range queries {
		names = append(names, MetricNames(q)...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
