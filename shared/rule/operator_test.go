package rule

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestRegisterOperatorRefuses(t *testing.T) {
	ok := func(Arg) (Test, error) {
		return TestFunc(func(gjson.Result, bool) (bool, string) { return true, "" }), nil
	}
	tests := []struct {
		name string
		op   Operator
		want string // in the error
	}{
		{name: "built-in name", op: Operator{Name: OpEquals, Operand: OperandScalar, Compile: ok}, want: `"equals" is already registered`},
		{name: "empty name", op: Operator{Operand: OperandNone, Compile: ok}, want: "non-empty name"},
		{name: "spaced name", op: Operator{Name: " x", Operand: OperandNone, Compile: ok}, want: "non-empty name"},
		{name: "unknown operand kind", op: Operator{Name: "x", Operand: "blob", Compile: ok}, want: `unknown operand kind "blob"`},
		{name: "no compile", op: Operator{Name: "x", Operand: OperandString}, want: "Compile is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := RegisterOperator(tc.op)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if tc.op.Name != OpEquals {
				if _, found := LookupOperator(tc.op.Name); found {
					t.Errorf("refused operator %q is in the table", tc.op.Name)
				}
			}
		})
	}
	if op, _ := LookupOperator(OpEquals); op.Operand != OperandScalar {
		t.Errorf("equals changed: %+v", op)
	}
}

// TestBuiltinOperatorsListed checks that every built-in operator constant
// is in the table, and the table holds nothing else.
func TestBuiltinOperatorsListed(t *testing.T) {
	consts := []string{OpEquals, OpNotEquals, OpIEquals, OpContains, OpIContains, OpStartsWith, OpEndsWith,
		OpRegex, OpIRegex, OpExists, OpNotExists, OpGT, OpGTE, OpLT, OpLTE, OpIn, OpNotIn, OpTagsInclude, OpAnyElement}
	table := newOperatorTable(builtinOperators())
	for _, name := range consts {
		if _, ok := table.lookup(name); !ok {
			t.Errorf("%s is not in the table", name)
		}
	}
	if n := len(strings.Split(table.names(), ", ")); n != len(consts) {
		t.Errorf("table has %d operators, %d constants: %s", n, len(consts), table.names())
	}
}

func TestPatternLiteral(t *testing.T) {
	tests := []struct {
		expr, lit string
		only      bool
		in, out   string
	}{
		{expr: "disk", lit: "disk", only: true, in: "a disk full", out: "dis k"},
		{expr: "^db[0-9]+\\.example", lit: ".example", in: "db01.example.com", out: "web01.example.com"},
		{expr: "(?i)disk", in: "DISK", out: "dusk"},
		{expr: "a|b", in: "b", out: "c"},
	}
	for _, tc := range tests {
		p := NewPattern(regexpMust(t, tc.expr))
		if p.Literal() != tc.lit || p.only != tc.only {
			t.Errorf("%s: literal %q only %v, want %q %v", tc.expr, p.Literal(), p.only, tc.lit, tc.only)
		}
		if !p.MatchString(tc.in) || p.MatchString(tc.out) {
			t.Errorf("%s: match %q = %v, %q = %v", tc.expr, tc.in, p.MatchString(tc.in), tc.out, p.MatchString(tc.out))
		}
	}
}

func regexpMust(t *testing.T, expr string) *regexp.Regexp {
	t.Helper()
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	return re
}
