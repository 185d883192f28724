package opsgenietest

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// queryAlerts are the fixed alerts the parser tests search, by tinyId.
func queryAlerts() []*Alert {
	return []*Alert{
		{
			TinyID: "1", Status: "open", Message: "duplicator: Long garbage-collection time",
			Description: "GC pauses above 5s on host app01", Entity: "app01.example.com",
			Tags: []string{"syn.app", "Critical"}, Teams: []string{"incoming"},
			Details: map[string]string{"host": "app01.example.com", "region": "eu"},
			Source:  "Zabbix", Priority: "P2", Count: 1,
			CreatedAt: base, UpdatedAt: base, LastOccurredAt: base,
		},
		{
			TinyID: "2", Status: "open", Message: "db01: disk almost full",
			Description: "Filesystem /var is 97% full", Entity: "db01.example.com",
			Tags: []string{"syn.db"}, Teams: []string{"incoming", "queue_needsinvestigation"},
			Details: map[string]string{"host": "db01.example.com"},
			Source:  "Nagios", Priority: "P3", Count: 4, Acknowledged: true,
			CreatedAt: base.Add(time.Hour), UpdatedAt: base.Add(time.Hour), LastOccurredAt: base.Add(time.Hour),
		},
		{
			TinyID: "3", Status: "closed", Message: "web02: http 500 rate high",
			Entity: "web02.example.com", Tags: []string{}, Teams: []string{"web team"},
			Details: map[string]string{}, Source: "Zabbix", Priority: "P1", Count: 1,
			CreatedAt: base.Add(2 * time.Hour), UpdatedAt: base.Add(3 * time.Hour), LastOccurredAt: base.Add(2 * time.Hour),
		},
	}
}

func TestQueryMatches(t *testing.T) {
	ms := base.UnixMilli()
	hour := time.Hour.Milliseconds()
	cases := []struct {
		name  string
		query string
		want  []string // tinyIds
	}{
		{name: "empty matches all", query: "  ", want: []string{"1", "2", "3"}},
		{name: "status", query: "status: open", want: []string{"1", "2"}},
		{name: "no space after colon", query: "status:closed", want: []string{"3"}},
		{name: "keyword case-insensitive", query: "STATUS: OPEN", want: []string{"1", "2"}},
		{name: "and", query: "status: open AND teams: incoming", want: []string{"1", "2"}},
		{name: "lower-case keywords", query: "status: open and not teams: queue_needsinvestigation", want: []string{"1"}},
		{name: "stack feed query", query: "status:open AND teams:incoming AND NOT teams:queue_autoremediation AND NOT teams:queue_needsinvestigation", want: []string{"1"}},
		{name: "or", query: "priority: P1 OR priority: P2", want: []string{"1", "3"}},
		{name: "and binds tighter than or", query: "priority: P1 OR priority: P3 AND acknowledged: true", want: []string{"2", "3"}},
		{name: "parentheses", query: "(priority: P1 OR priority: P3) AND source: Zabbix", want: []string{"3"}},
		{name: "juxtaposition is and", query: "source: Zabbix status: open", want: []string{"1"}},
		{name: "value group", query: "teams: (incoming OR \"web team\")", want: []string{"1", "2", "3"}},
		{name: "value group and", query: "teams: (incoming AND queue_needsinvestigation)", want: []string{"2"}},
		{name: "value group not", query: "teams: (incoming AND NOT queue_needsinvestigation)", want: []string{"1"}},
		{name: "quoted team with space", query: `teams: "web team"`, want: []string{"3"}},
		{name: "team partial name does not match", query: "teams: incom", want: nil},
		{name: "tag", query: "tag: syn.db", want: []string{"2"}},
		{name: "tags alias", query: "tags: critical", want: []string{"1"}},
		{name: "tag wildcard", query: "tag: syn.*", want: []string{"1", "2"}},
		{name: "quoted wildcard is literal", query: `tag: "syn.*"`, want: nil},
		{name: "message word", query: "message: disk", want: []string{"2"}},
		{name: "message phrase", query: `message: "garbage-collection time"`, want: []string{"1"}},
		{name: "message phrase out of order", query: `message: "time garbage"`, want: nil},
		{name: "message partial word", query: "message: dis", want: nil},
		{name: "message word wildcard", query: "message: dis*", want: []string{"2"}},
		{name: "description", query: `description: "97% full"`, want: []string{"2"}},
		{name: "entity exact", query: "entity: db01.example.com", want: []string{"2"}},
		{name: "entity wildcard", query: "entity: *.example.com", want: []string{"1", "2", "3"}},
		{name: "entity question mark", query: "entity: db0?.example.com", want: []string{"2"}},
		{name: "tinyId equal", query: "tinyId: 2", want: []string{"2"}},
		{name: "tinyId range", query: "tinyId >= 2", want: []string{"2", "3"}},
		{name: "count", query: "count > 1", want: []string{"2"}},
		{name: "createdAt after", query: "createdAt > " + itoa(ms), want: []string{"2", "3"}},
		{name: "createdAt at or after", query: "createdAt >= " + itoa(ms), want: []string{"1", "2", "3"}},
		{name: "createdAt before", query: "createdAt < " + itoa(ms+hour), want: []string{"1"}},
		{name: "createdAt at or before", query: "createdAt <= " + itoa(ms+hour), want: []string{"1", "2"}},
		{name: "createdAt window", query: "createdAt > " + itoa(ms) + " AND createdAt < " + itoa(ms+2*hour), want: []string{"2"}},
		{name: "updatedAt", query: "updatedAt > " + itoa(ms+2*hour), want: []string{"3"}},
		{name: "user query parenthesised with lookback", query: "(teams: incoming OR teams: \"web team\") AND createdAt > " + itoa(ms), want: []string{"2", "3"}},
		{name: "acknowledged", query: "acknowledged: true", want: []string{"2"}},
		{name: "not acknowledged", query: "acknowledged: false", want: []string{"1", "3"}},
		{name: "details named key", query: "details.host: db01.example.com", want: []string{"2"}},
		{name: "details key", query: "details.key: region", want: []string{"1"}},
		{name: "details value", query: "details.value: eu", want: []string{"1"}},
		{name: "free text word", query: "garbage", want: []string{"1"}},
		{name: "free text in details", query: "eu", want: []string{"1"}},
		{name: "free text quoted", query: `"http 500"`, want: []string{"3"}},
		{name: "not", query: "NOT status: open", want: []string{"3"}},
		{name: "double not", query: "NOT NOT status: open", want: []string{"1", "2"}},
		{name: "not group", query: "NOT (teams: incoming OR priority: P1)", want: nil},
		{name: "source", query: "source: zabbix", want: []string{"1", "3"}},
		{name: "field name case-insensitive", query: "TinyID: 3", want: []string{"3"}},
		{name: "quoted keyword as value", query: `message: "and"`, want: nil},
	}
	alerts := queryAlerts()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := parseQuery(tc.query)
			if err != nil {
				t.Fatalf("parseQuery(%q): %v", tc.query, err)
			}
			var got []string
			for _, a := range alerts {
				if n.match(a) {
					got = append(got, a.TinyID)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("query %q matched %v, want %v", tc.query, got, tc.want)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	cases := []struct {
		name  string
		query string
		want  string // part of the message
	}{
		{name: "unknown field", query: "colour: red", want: `unknown field "colour"`},
		{name: "missing value", query: "status:", want: "needs a value"},
		{name: "missing value before and", query: "status: AND teams: x", want: "needs a value"},
		{name: "dangling and", query: "status: open AND", want: "unexpected end of query"},
		{name: "leading or", query: "OR status: open", want: "unexpected OR"},
		{name: "dangling not", query: "NOT", want: "unexpected end of query"},
		{name: "unclosed paren", query: "(status: open", want: "expected ')'"},
		{name: "stray close paren", query: "status: open)", want: "unexpected ')'"},
		{name: "empty parens", query: "()", want: "unexpected ')'"},
		{name: "unterminated quote", query: `message: "disk`, want: "unterminated"},
		{name: "equals operator", query: "status=open", want: "unsupported operator"},
		{name: "not-equals operator", query: "status != open", want: "unsupported operator"},
		{name: "comparison on text field", query: "message > 5", want: "does not take >"},
		{name: "comparison needs a number", query: "createdAt > yesterday", want: "needs an integer"},
		{name: "comparison needs a value", query: "createdAt >", want: "needs a number"},
		{name: "numeric field with word", query: "tinyId: abc", want: "needs an integer"},
		{name: "bool field with word", query: "acknowledged: maybe", want: "needs true or false"},
		{name: "field inside value group", query: "teams: (a OR status: open)", want: "inside the value group"},
		{name: "double colon", query: "status: : open", want: "needs a value"},
		{name: "too deep", query: strings.Repeat("(", maxQueryDepth+1) + "a" + strings.Repeat(")", maxQueryDepth+1), want: "nested too deeply"},
		{name: "too long", query: strings.Repeat("a ", maxQueryLen), want: "longer than"},
		{name: "invalid utf8", query: "message: \xff", want: "invalid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseQuery(tc.query)
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("parseQuery(%q) = %v, want a *QueryError", tc.query, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseQuery(%q) error %q, want it to contain %q", tc.query, err, tc.want)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "abbbc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*b*b*", "abcb", true},
		{"*b*b*", "abc", false},
		{"é*", "été", true},
	}
	for _, tc := range cases {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// FuzzParseQuery checks the parser never panics and that whatever it
// accepts can be evaluated.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"status: open AND teams: incoming",
		"(a OR b) AND NOT c",
		`message: "disk full" createdAt > 1700000000000`,
		"teams: (x OR (y AND NOT z))",
		"details.host: db* tinyId <= 4",
		`"unterminated`,
		"NOT NOT NOT",
		"a:b:c",
	} {
		f.Add(s)
	}
	alerts := queryAlerts()
	f.Fuzz(func(t *testing.T, q string) {
		n, err := parseQuery(q)
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, a := range alerts {
			n.match(a)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
