package rules

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/alexis-ops/alexis/shared/rule"
	"github.com/tidwall/gjson"
)

// v1 semantics (kept exactly): an evaluation passes when its tags are a
// subset of the alert's tags and its search_text, a Go (RE2) regular
// expression, is found anywhere in the text of the alert's top-level field
// search_key (see Text; a missing or non-scalar field fails). An
// evaluation without search_key is a tag check only.
type v1Evaluation struct {
	index int
	tags  []string
	key   string        // top-level field as written; "" for a tag-only evaluation
	path  string        // key escaped for gjson
	re    *rule.Pattern // search_text compiled, with the literal it needs
	text  string        // search_text as written
}

func compileV1(def *rule.Rule) ([]v1Evaluation, rule.Errors) {
	var errs rule.Errors
	var evs []v1Evaluation
	for i, item := range def.Evaluations {
		e := item.Evaluation
		ev := v1Evaluation{index: i, tags: e.Tags, key: e.SearchKey, path: gjson.Escape(e.SearchKey), text: e.SearchText}
		if e.SearchKey != "" {
			re, err := regexp.Compile(e.SearchText)
			if err != nil {
				errs = append(errs, rule.FieldError{
					Path: fmt.Sprintf("evaluation_list[%d].evaluation.search_text", i),
					Msg:  "invalid regular expression: " + rule.RegexpProblem(err),
				})
				continue
			}
			ev.re = rule.NewPattern(re)
		}
		evs = append(evs, ev)
	}
	return evs, errs
}

func (ev *v1Evaluation) pass(a *Alert) bool {
	if !a.HasTags(ev.tags) {
		return false
	}
	if ev.re == nil {
		return true
	}
	text, ok := Text(a.Get(ev.path))
	return ok && ev.re.MatchString(text)
}

// explain says why the evaluation fails, or returns nil when it passes.
func (ev *v1Evaluation) explain(a *Alert) *Failure {
	p := fmt.Sprintf("evaluation_list[%d].evaluation", ev.index)
	if !a.HasTags(ev.tags) {
		want, _ := json.Marshal(ev.tags)
		tags, _ := json.Marshal(a.Tags())
		f := &Failure{RulePath: p + ".tags", AlertPath: "tags", Op: rule.OpTagsInclude, Expected: want, Actual: trimActual(string(tags))}
		for _, t := range ev.tags {
			if !a.HasTags([]string{t}) {
				f.Reason = fmt.Sprintf("tag %q is not on the alert", t)
				break
			}
		}
		return f
	}
	if ev.re == nil || ev.pass(a) {
		return nil
	}
	want, _ := json.Marshal(ev.text)
	v := a.Get(ev.path)
	f := &Failure{RulePath: p + ".search_text", AlertPath: ev.key, Op: rule.OpRegex, Expected: want, Actual: actual(v)}
	if _, ok := Text(v); !ok {
		f.Reason = "search_key is " + rule.TypeName(v) + ", not a string, number or boolean"
	} else {
		f.Reason = "regular expression not found"
	}
	return f
}
