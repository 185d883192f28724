package rule

import "fmt"

// EvaluationItem wraps one evaluation, as the v1 format nests it.
type EvaluationItem struct {
	Evaluation Evaluation `json:"evaluation"`
}

// Evaluation passes when Tags are a subset of the alert's tags and the
// regular expression SearchText is found in the alert's top-level field
// SearchKey.
type Evaluation struct {
	Tags       []string `json:"tags"`
	SearchKey  string   `json:"search_key"`
	SearchText string   `json:"search_text"`
	Duration   string   `json:"duration,omitempty"`
	TaskType   string   `json:"task_type,omitempty"`
}

// validateEvaluations checks evaluation_list entries.
func validateEvaluations(evs []EvaluationItem) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	for i, ev := range evs {
		p := fmt.Sprintf("evaluation_list[%d].evaluation", i)
		e := ev.Evaluation
		if len(e.Tags) == 0 && e.SearchKey == "" && e.SearchText == "" {
			add(p, "empty evaluation: set tags and/or search_key with search_text")
		}
		if (e.SearchKey == "") != (e.SearchText == "") {
			add(p, "search_key and search_text go together")
		}
		if _, err := parseDuration(e.Duration); err != nil {
			add(p+".duration", "%v", err)
		}
	}
	return errs
}
