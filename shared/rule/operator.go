package rule

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/tidwall/gjson"
)

// Operator is one operator of v2 condition leaves ({"path": ..., "op":
// Name, "value": ...}): everything rule parsing, the classifier's
// compiler, its matcher and its explanations need to know about it. The
// table of operators (builtinOperators, plus RegisterOperator) is the only
// place an operator is named; adding one is one entry and its code.
type Operator struct {
	// Name is the "op" of a leaf.
	Name string
	// Operand is what the leaf's "value" must be: one of the Operand*
	// kinds. Parse checks it, with the messages of that kind.
	Operand string
	// SeesMissing makes Test see a missing value too (exists,
	// not_exists). Otherwise a leaf whose path is not in the alert is false
	// with reason "not in the alert", without calling Test.
	SeesMissing bool
	// Compile turns an operand that has passed the Operand check into the
	// Test. For an operator with a value Parse calls it too, so that a rule
	// that parses compiles: its error is reported at the leaf's "value"
	// path, as the message for the rule's author.
	Compile func(arg Arg) (Test, error)
}

// Operand kinds: what an operator's "value" must be.
const (
	OperandNone       = "none"            // no value
	OperandScalar     = "scalar"          // string, number, boolean or null
	OperandString     = "string"          // non-empty string
	OperandRegex      = "regex"           // RE2 regular expression
	OperandOrdered    = "number_or_time"  // number, or RFC 3339 time string
	OperandScalarList = "list_of_scalars" // non-empty array of scalars
	OperandStringList = "list_of_strings" // non-empty array of strings
	OperandCond       = "condition"       // "cond" instead of "value"
)

// Arg is a leaf's operand, as Compile receives it.
type Arg struct {
	Value json.RawMessage // the "value" as written (nil for OperandNone, OperandCond)
	// Elem decides the leaf's "cond" for one array element (OperandCond
	// only; nil when Parse calls Compile).
	Elem func(elem gjson.Result) bool
}

// Test decides an operator on the value a leaf's path reads.
type Test interface {
	// Test reports whether the operator holds for v and, when it does not
	// and why is true, a short reason ("no match", "value is a number, not
	// a string"). With why false the reason may be left empty: matching
	// calls it so on every alert, explaining with why true.
	Test(v gjson.Result, why bool) (ok bool, reason string)
}

// TestFunc is a Test that is a function.
type TestFunc func(v gjson.Result, why bool) (bool, string)

// Test implements Test.
func (f TestFunc) Test(v gjson.Result, why bool) (bool, string) { return f(v, why) }

// LiteralTest is a Test that only holds for strings containing a known
// literal (case-sensitively). The classifier checks the literals a rule
// needs before walking its conditions, which rules most rules out for
// most alerts; "" means no literal is known.
type LiteralTest interface {
	Test
	Literal() string
}

// TagsTest is a Test that holds exactly when the value is an array holding
// every one of Tags as a string. On the alert's own "tags" the classifier
// decides it with the alert's tag bitset and indexes the rule by them.
type TagsTest interface {
	Test
	Tags() []string
}

// operatorTable holds condition operators by name.
type operatorTable struct {
	mu  sync.RWMutex
	ops map[string]*Operator
}

// operators is the table Parse and the classifier read: the built-in
// operators, and any RegisterOperator added.
var operators = newOperatorTable(builtinOperators())

func newOperatorTable(ops []Operator) *operatorTable {
	t := &operatorTable{ops: map[string]*Operator{}}
	for _, op := range ops {
		if err := t.add(op); err != nil {
			panic(err) // a broken built-in table: fails every test
		}
	}
	return t
}

func (t *operatorTable) add(op Operator) error {
	var errs []error
	if op.Name == "" || strings.TrimSpace(op.Name) != op.Name {
		errs = append(errs, fmt.Errorf("operator name %q: want a non-empty name without spaces around it", op.Name))
	}
	if _, ok := operandHelp[op.Operand]; !ok && op.Operand != OperandNone && op.Operand != OperandCond {
		errs = append(errs, fmt.Errorf("operator %q: unknown operand kind %q", op.Name, op.Operand))
	}
	if op.Compile == nil {
		errs = append(errs, fmt.Errorf("operator %q: Compile is required", op.Name))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.ops[op.Name]; dup {
		return fmt.Errorf("operator %q is already registered", op.Name)
	}
	t.ops[op.Name] = &op
	return nil
}

func (t *operatorTable) lookup(name string) (*Operator, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	op, ok := t.ops[name]
	return op, ok
}

func (t *operatorTable) names() string {
	t.mu.RLock()
	names := make([]string, 0, len(t.ops))
	for k := range t.ops {
		names = append(names, k)
	}
	t.mu.RUnlock()
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// RegisterOperator adds an operator to the table every rule is parsed and
// compiled with. Call it before rules are loaded (from an init function or
// at the start of main): a rule file naming an operator that is not
// registered is invalid. It refuses a name already taken, an unknown
// operand kind and a missing Compile.
func RegisterOperator(op Operator) error { return operators.add(op) }

// LookupOperator returns the operator named name.
func LookupOperator(name string) (*Operator, bool) { return operators.lookup(name) }
