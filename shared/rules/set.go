package rules

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
)

// Set is the rule files as one Load found them. It is immutable once
// built, so requests can share it while a newer one is published.
type Set struct {
	Files []File  // every rule file, in lexical order of file name
	Rules []*Rule // the valid ones, in the same order

	feeds   []*feedIndex // enabled rules by feed type
	scratch sync.Pool    // *[]int32 for Candidates
}

// feedIndex holds the enabled rules of one feed type, indexed by one tag
// each must have (the rarest of its required tags), so an alert is only
// checked against rules whose key tag it carries plus those without one.
type feedIndex struct {
	feed     string
	rules    []*Rule
	keys     []string           // key tag of each rule ("": none)
	untagged []int32            // rules without a required tag
	byTag    map[string][]int32 // key tag → rules, ascending
}

// NewSet builds a Set over files and their valid rules (in file order).
func NewSet(files []File, valid []*Rule) *Set {
	s := &Set{Files: files, Rules: valid}
	s.scratch.New = func() any { b := make([]int32, 0, 64); return &b }
	for _, r := range valid {
		if !bool(r.Def.Enabled) {
			continue
		}
		fi := s.feed(r.Def.AlertFeed)
		if fi == nil {
			fi = &feedIndex{feed: r.Def.AlertFeed, byTag: map[string][]int32{}}
			s.feeds = append(s.feeds, fi)
		}
		fi.rules = append(fi.rules, r)
	}
	for _, fi := range s.feeds {
		count := map[string]int{}
		for _, r := range fi.rules {
			for _, t := range dedupe(r.Matcher.RequiredTags()) {
				count[t]++
			}
		}
		for i, r := range fi.rules {
			key, best := "", 0
			for _, t := range r.Matcher.RequiredTags() {
				if key == "" || count[t] < best {
					key, best = t, count[t]
				}
			}
			fi.keys = append(fi.keys, key)
			if key == "" {
				fi.untagged = append(fi.untagged, int32(i))
			} else {
				fi.byTag[key] = append(fi.byTag[key], int32(i))
			}
		}
	}
	return s
}

func (s *Set) feed(feedType string) *feedIndex {
	for _, fi := range s.feeds {
		if strings.EqualFold(fi.feed, feedType) {
			return fi
		}
	}
	return nil
}

// FeedType returns feedType as the rules spell it in alert_feed, or ""
// when no enabled rule is written for it.
func (s *Set) FeedType(feedType string) string {
	if fi := s.feed(feedType); fi != nil {
		return fi.feed
	}
	return ""
}

// Applicable is the number of enabled rules written for feedType: the
// rules an alert of that feed is checked against ("rules_checked").
func (s *Set) Applicable(feedType string) int {
	if fi := s.feed(feedType); fi != nil {
		return len(fi.rules)
	}
	return 0
}

// Candidates calls fn, in file order, with each enabled rule for the
// alert's feed type that could match it: rules whose key tag the alert
// lacks are skipped, as they cannot match. fn returns false to stop.
func (s *Set) Candidates(a *Alert, fn func(*Rule) bool) {
	fi := s.feed(a.Env.Meta.FeedType)
	if fi == nil {
		return
	}
	if len(fi.byTag) == 0 {
		for _, r := range fi.rules {
			if !fn(r) {
				return
			}
		}
		return
	}
	bp := s.scratch.Get().(*[]int32)
	idx := append((*bp)[:0], fi.untagged...)
	tagged := false
	for _, t := range a.Tags() {
		if hits := fi.byTag[t]; len(hits) > 0 {
			idx = append(idx, hits...)
			tagged = true
		}
	}
	if tagged {
		slices.Sort(idx)
		idx = slices.Compact(idx)
	}
	for _, i := range idx {
		if !fn(fi.rules[i]) {
			break
		}
	}
	*bp = idx
	s.scratch.Put(bp)
}

// Decision is how a set decides an alert at a time (Decide): the rules
// that match it, those that would once it is old enough (deferred), and
// those that could not be evaluated, with why; each in file order.
type Decision struct {
	Matched, Deferred []*Rule
	Failed            []Failed
}

// Result is the decision's api.Result*: matched when a rule matched, else
// deferred when one would later, else unmatched.
func (d Decision) Result() string {
	switch {
	case len(d.Matched) > 0:
		return api.ResultMatched
	case len(d.Deferred) > 0:
		return api.ResultDeferred
	}
	return api.ResultUnmatched
}

// Failed is a rule that could not be evaluated on an alert.
type Failed struct {
	Rule *Rule
	Err  error
}

// Decide evaluates every candidate rule (Candidates) on a at now: the
// one decision the classifier acts on and replay compares against.
func (s *Set) Decide(a *Alert, now time.Time) Decision {
	var v Decision
	s.Candidates(a, func(r *Rule) bool {
		switch out, err := r.Matcher.Match(a, now); {
		case err != nil:
			v.Failed = append(v.Failed, Failed{Rule: r, Err: err})
		case out == Matched:
			v.Matched = append(v.Matched, r)
		case out == Deferred:
			v.Deferred = append(v.Deferred, r)
		}
		return true
	})
	return v
}

// Skipped calls fn, in file order, with each enabled rule for the alert's
// feed type that Candidates skips, and the tag it requires that the alert
// lacks. fn returns false to stop.
func (s *Set) Skipped(a *Alert, fn func(r *Rule, tag string) bool) {
	fi := s.feed(a.Env.Meta.FeedType)
	if fi == nil {
		return
	}
	tags := a.Tags()
	for i, key := range fi.keys {
		if key != "" && !slices.Contains(tags, key) && !fn(fi.rules[i], key) {
			return
		}
	}
}

func dedupe(tags []string) []string {
	if len(tags) < 2 {
		return tags
	}
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
}
