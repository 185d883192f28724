package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alexis-ops/alexis/shared/api"
)

// ErrInvalidDecision is what a DecisionError is (errors.Is).
var ErrInvalidDecision = errors.New("invalid decision")

// ErrDecisionNotFound is GetDecision's answer for an unknown id; it is
// ErrNotFound too (errors.Is).
var ErrDecisionNotFound error = decisionNotFound{}

type decisionNotFound struct{}

func (decisionNotFound) Error() string        { return "decision not found" }
func (decisionNotFound) Is(target error) bool { return target == ErrNotFound }

// DecisionError names the decision of a batch (its index) and the field
// that was refused. Values are never quoted: they are attacker-written.
type DecisionError struct {
	Index   int
	Field   string // its JSON path in the decision: "id", "matched[2].execution_id"
	Problem string
}

func (e *DecisionError) Error() string {
	return fmt.Sprintf("decisions[%d].%s: %s", e.Index, e.Field, e.Problem)
}

// Is makes a DecisionError ErrInvalidDecision.
func (e *DecisionError) Is(target error) bool { return target == ErrInvalidDecision }

// Limits of a recorded decision. A decision beyond a count limit, with a
// bad id or result, or with a payload over api.MaxDecisionPayload is
// refused; strings longer than their cap are cut (at a character
// boundary) to it.
const (
	MaxDecisionID       = 64
	MaxDecisionRules    = 1000 // entries of Rules
	MaxDecisionMatched  = 100  // entries of Matched
	maxDecisionSummary  = 256
	maxDecisionName     = 256 // feed type and name, requested_by, rule names and paths
	maxDecisionValue    = 512 // alert id, unique value, expected, actual
	maxDecisionReason   = 1024
	maxDecisionStatus   = 32
	maxDecisionExecID   = 64
	maxDecisionTextFind = 256 // DecisionFilter.Text
	// MaxDecisionAhead is how far ahead of the store's clock a decision's
	// received_at may be.
	MaxDecisionAhead = time.Hour
)

// DecisionResults are the results a decision may have.
var DecisionResults = map[string]bool{
	api.ResultMatched: true, api.ResultUnmatched: true, api.ResultDeferred: true, api.ResultRefused: true,
	api.ResultUnavailable: true, api.ResultDirect: true,
}

// Outcomes are the values of DecisionFilter.Outcome: a decision result or
// an execution status.
var Outcomes = map[string]bool{
	api.ResultMatched: true, api.ResultUnmatched: true, api.ResultDeferred: true, api.ResultRefused: true,
	api.ResultUnavailable: true, api.ResultDirect: true,
	Queued: true, Running: true, Success: true, Failure: true, Skipped: true, Interrupted: true, DryRun: true,
	Verifying: true, Remediated: true, Ineffective: true, // verification (verify.go)
	AwaitingApproval: true, Denied: true, Expired: true, // approval.go
}

// ScanWindow is how many decisions one ListDecisions page reads at most
// when a filter is not served by an index (the text, the feed name, a
// second filter): a page may then hold fewer than Limit decisions and
// still have a Next cursor, where the next page goes on reading.
const ScanWindow = 5000

// window is ScanWindow, or what a test set.
func (s *SQL) window() int {
	if s.scanWindow > 0 {
		return s.scanWindow
	}
	return ScanWindow
}

// CheckDecision checks d, the index-th of its batch: nil or a
// *DecisionError.
func CheckDecision(index int, d *api.Decision) error {
	bad := func(field, problem string) error { return &DecisionError{Index: index, Field: field, Problem: problem} }
	if !validDecisionID(d.ID) {
		return bad("id", fmt.Sprintf("want 1 to %d characters of 0-9, a-z, A-Z, _ and -", MaxDecisionID))
	}
	if !DecisionResults[d.Result] {
		return bad("result", "want matched, unmatched, deferred, refused, unavailable or direct")
	}
	if d.RulesChecked < 0 {
		return bad("rules_checked", "negative")
	}
	if len(d.Payload) > api.MaxDecisionPayload {
		return bad("payload", fmt.Sprintf("larger than %d bytes: leave it out and set payload_omitted", api.MaxDecisionPayload))
	}
	if len(d.Payload) > 0 && !json.Valid(d.Payload) {
		return bad("payload", "not JSON")
	}
	if len(d.Rules) > MaxDecisionRules {
		return bad("rules", fmt.Sprintf("more than %d entries", MaxDecisionRules))
	}
	if len(d.Matched) > MaxDecisionMatched {
		return bad("matched", fmt.Sprintf("more than %d entries", MaxDecisionMatched))
	}
	for i, m := range d.Matched {
		if m.ExecutionID != "" && !validDecisionID(m.ExecutionID) {
			return bad(fmt.Sprintf("matched[%d].execution_id", i), "not an execution id")
		}
	}
	return nil
}

func validDecisionID(id string) bool {
	if id == "" || len(id) > MaxDecisionID {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// capString cuts s to at most max bytes of valid UTF-8.
func capString(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// cleanDecision returns d with its strings capped.
func cleanDecision(d api.Decision) api.Decision {
	d.FeedType = capString(d.FeedType, maxDecisionName)
	d.FeedName = capString(d.FeedName, maxDecisionName)
	d.AlertID = capString(d.AlertID, maxDecisionValue)
	d.UniqueValue = capString(d.UniqueValue, maxDecisionValue)
	d.Summary = capString(d.Summary, maxDecisionSummary)
	d.RequestedBy = capString(d.RequestedBy, maxDecisionName)
	rules := make([]api.DecisionRule, len(d.Rules))
	for i, r := range d.Rules {
		rules[i] = api.DecisionRule{
			File: capString(r.File, maxDecisionName), RuleName: capString(r.RuleName, maxDecisionName),
			Status: capString(r.Status, maxDecisionStatus), RulePath: capString(r.RulePath, maxDecisionName),
			AlertPath: capString(r.AlertPath, maxDecisionName), Op: capString(r.Op, maxDecisionStatus),
			Expected: capString(r.Expected, maxDecisionValue), Actual: capString(r.Actual, maxDecisionValue),
			Reason: capString(r.Reason, maxDecisionReason),
		}
	}
	d.Rules = rules
	matched := make([]api.MatchedAction, len(d.Matched))
	for i, m := range d.Matched {
		matched[i] = api.MatchedAction{RuleName: capString(m.RuleName, maxDecisionName), ExecutionID: m.ExecutionID,
			Status: capString(m.Status, maxDecisionStatus), Error: capString(m.Error, maxDecisionReason)}
	}
	d.Matched = matched
	return d
}

// searchText is what DecisionFilter.Text looks in, lower case.
func searchText(d *api.Decision) string {
	return strings.ToLower(d.AlertID + "\n" + d.UniqueValue + "\n" + d.Summary)
}

// RecordDecisions records ds in one transaction (all or none): each
// decision whose id is not recorded yet, linked to those executions named
// in its Matched that exist. A decision with a zero ReceivedAt is
// received now. An invalid decision refuses the batch with a
// *DecisionError.
func (s *SQL) RecordDecisions(ctx context.Context, ds []api.Decision) error {
	ahead := s.now().Add(MaxDecisionAhead)
	for i := range ds {
		if err := CheckDecision(i, &ds[i]); err != nil {
			return err
		}
		// A time far ahead would keep a decision at the top of the
		// timeline.
		if ds[i].ReceivedAt.After(ahead) {
			return &DecisionError{Index: i, Field: "received_at", Problem: "more than an hour ahead of the action handler's clock"}
		}
	}
	if len(ds) == 0 {
		return nil
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("store: record decisions: %w", err)
	}
	defer tx.Rollback()
	// The executions to link, read-locked (PostgreSQL) until commit, all
	// at once and in id order: a status change of one (Claim, Finish,
	// Recover) waits for this transaction and then sees its links, or
	// this one waits for it and reads its new status, so no decision's
	// outcomes miss a change.
	if s.d.forUpdate != "" {
		var execs []string
		for _, d := range ds {
			for _, m := range d.Matched {
				if m.ExecutionID != "" {
					execs = append(execs, m.ExecutionID)
				}
			}
		}
		execs = sortedUnique(execs)
		for lo := 0; lo < len(execs); lo += insertBatch {
			chunk := execs[lo:min(len(execs), lo+insertBatch)]
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = id
			}
			rows, err := tx.query(ctx, `SELECT id FROM executions WHERE id IN (`+placeholders(1, len(chunk))+
				`) ORDER BY id FOR SHARE`, args...)
			if err != nil {
				return fmt.Errorf("store: record decisions: lock executions: %w", err)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("store: record decisions: lock executions: %w", err)
			}
		}
	}
	now := s.now()
	var fresh []string
	for i := range ds {
		d := cleanDecision(ds[i])
		ok, err := s.recordDecision(ctx, tx, &d, now)
		if err != nil {
			return fmt.Errorf("store: record decision %d: %w", i, err)
		}
		if ok {
			fresh = append(fresh, d.ID)
		}
	}
	if err := s.refreshOutcomes(ctx, tx, fresh); err != nil {
		return fmt.Errorf("store: record decisions: outcomes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record decisions: commit: %w", err)
	}
	return nil
}

// recordDecision inserts d unless its id is recorded (false).
func (s *SQL) recordDecision(ctx context.Context, tx *txn, d *api.Decision, now time.Time) (bool, error) {
	at := d.ReceivedAt
	if at.IsZero() {
		at = now
	}
	received := micros(at)
	rules, err := json.Marshal(d.Rules)
	if err != nil {
		return false, err
	}
	matched, err := json.Marshal(d.Matched)
	if err != nil {
		return false, err
	}
	var payload sql.NullString
	if len(d.Payload) > 0 {
		payload = sql.NullString{String: string(d.Payload), Valid: true}
	}
	res, err := tx.exec(ctx, `INSERT INTO decisions (id, received_at, recorded_at, feed_type, feed_name, alert_id,
		unique_value, summary, result, rules_checked, requested_by, rules, matched, payload, payload_omitted, search)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (id) DO NOTHING`,
		d.ID, received, micros(now), d.FeedType, d.FeedName, d.AlertID, d.UniqueValue, d.Summary, d.Result,
		d.RulesChecked, d.RequestedBy, string(rules), string(matched), payload, boolInt(d.PayloadOmitted), searchText(d))
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	var names, execs []string
	for _, m := range d.Matched {
		if m.RuleName != "" {
			names = append(names, m.RuleName)
		}
		if m.ExecutionID != "" {
			execs = append(execs, m.ExecutionID)
		}
	}
	names, execs = sortedUnique(names), sortedUnique(execs)
	if err := insertRows(ctx, tx, s, `INSERT INTO decision_matches (decision_id, rule_name, received_at) VALUES `,
		3, len(names), func(i int) []any { return []any{d.ID, names[i], received} }); err != nil {
		return false, fmt.Errorf("matches: %w", err)
	}
	if len(execs) == 0 {
		return true, nil
	}
	args := []any{d.ID, received}
	for _, id := range execs {
		args = append(args, id)
	}
	in := placeholders(3, len(execs))
	if _, err := tx.exec(ctx, `INSERT INTO decision_executions (decision_id, execution_id, received_at)
		SELECT $1, id, $2 FROM executions WHERE id IN (`+in+`)`, args...); err != nil {
		return false, fmt.Errorf("executions: %w", err)
	}
	rows, err := tx.query(ctx, `SELECT entity FROM execution_entities WHERE execution_id IN (`+
		placeholders(1, len(execs))+`)`, args[2:]...)
	if err != nil {
		return false, fmt.Errorf("hosts: %w", err)
	}
	var hosts []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			rows.Close()
			return false, fmt.Errorf("hosts: %w", err)
		}
		hosts = append(hosts, strings.ToLower(e))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("hosts: %w", err)
	}
	hosts = sortedUnique(hosts)
	if err := insertRows(ctx, tx, s, `INSERT INTO decision_hosts (decision_id, host, received_at) VALUES `,
		3, len(hosts), func(i int) []any { return []any{d.ID, hosts[i], received} }); err != nil {
		return false, fmt.Errorf("hosts: %w", err)
	}
	return true, nil
}

// refreshOutcomes rewrites the outcomes of decisions ids: each one's
// result and its executions' current statuses.
func (s *SQL) refreshOutcomes(ctx context.Context, tx *txn, ids []string) error {
	for lo := 0; lo < len(ids); lo += insertBatch {
		chunk := ids[lo:min(len(ids), lo+insertBatch)]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		in := placeholders(1, len(chunk))
		if _, err := tx.exec(ctx, `DELETE FROM decision_outcomes WHERE decision_id IN (`+in+`)`, args...); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO decision_outcomes (decision_id, outcome, received_at)
			SELECT id, result, received_at FROM decisions WHERE id IN (`+in+`)
			UNION
			SELECT de.decision_id, x.status, de.received_at FROM decision_executions de
			JOIN executions x ON x.id = de.execution_id WHERE de.decision_id IN (`+in+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}

// executionChanged refreshes the outcomes of the decisions linked to
// execution id, whose status just changed in tx.
func (s *SQL) executionChanged(ctx context.Context, tx *txn, id string) error {
	rows, err := tx.query(ctx, `SELECT decision_id FROM decision_executions WHERE execution_id = $1`, id)
	if err != nil {
		return fmt.Errorf("decisions of %s: %w", id, err)
	}
	var ids []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return fmt.Errorf("decisions of %s: %w", id, err)
		}
		ids = append(ids, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("decisions of %s: %w", id, err)
	}
	if err := s.refreshOutcomes(ctx, tx, ids); err != nil {
		return fmt.Errorf("decisions of %s: %w", id, err)
	}
	return nil
}

const decisionColumns = `d.id, d.received_at, d.feed_type, d.feed_name, d.alert_id, d.unique_value, d.summary,
	d.result, d.rules_checked, d.requested_by, d.rules, d.matched, d.payload_omitted`

func scanDecision(r scanner, payload bool) (*api.Decision, error) {
	var d api.Decision
	var received int64
	var rules, matched string
	var omitted int
	var p sql.NullString
	dest := []any{&d.ID, &received, &d.FeedType, &d.FeedName, &d.AlertID, &d.UniqueValue, &d.Summary,
		&d.Result, &d.RulesChecked, &d.RequestedBy, &rules, &matched, &omitted}
	if payload {
		dest = append(dest, &p)
	}
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	d.ReceivedAt = fromMicros(received)
	d.PayloadOmitted = omitted != 0
	if err := json.Unmarshal([]byte(rules), &d.Rules); err != nil {
		return nil, fmt.Errorf("decision %s: rules: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(matched), &d.Matched); err != nil {
		return nil, fmt.Errorf("decision %s: matched: %w", d.ID, err)
	}
	if len(d.Rules) == 0 {
		d.Rules = nil
	}
	if len(d.Matched) == 0 {
		d.Matched = nil
	}
	if p.Valid {
		d.Payload = json.RawMessage(p.String)
	}
	return &d, nil
}

// decisionDriver is the table a ListDecisions query walks newest first:
// an index on (value, received_at, decision_id).
type decisionDriver struct {
	table, column string
}

func (s *SQL) ListDecisions(ctx context.Context, f DecisionFilter) (DecisionPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	host := strings.ToLower(f.Host)
	// The most selective filter with an index drives; the others are
	// checked per decision (primary-key lookups, or its row).
	var drv *decisionDriver
	var drvValue string
	switch {
	case f.Host != "":
		drv, drvValue = &decisionDriver{"decision_hosts", "host"}, host
	case f.RuleName != "":
		drv, drvValue = &decisionDriver{"decision_matches", "rule_name"}, f.RuleName
	case f.Outcome != "":
		drv, drvValue = &decisionDriver{"decision_outcomes", "outcome"}, f.Outcome
	}
	// at and id name the walked columns.
	at, id := "d.received_at", "d.id"
	var driverWhere, rowWhere []string
	from := "decisions d"
	if drv != nil {
		at, id = "k.received_at", "k.decision_id"
		from = drv.table + " k CROSS JOIN decisions d"
		driverWhere = append(driverWhere, "k."+drv.column+" = "+arg(drvValue))
	} else if f.FeedType != "" {
		driverWhere = append(driverWhere, "d.feed_type = "+arg(f.FeedType))
	}
	if !f.Since.IsZero() {
		driverWhere = append(driverWhere, at+" >= "+arg(micros(f.Since)))
	}
	if !f.Until.IsZero() {
		driverWhere = append(driverWhere, at+" < "+arg(micros(f.Until)))
	}
	if f.Cursor != "" {
		cat, cid, err := decodeCursor(f.Cursor)
		if err != nil {
			return DecisionPage{}, err
		}
		a, i := arg(cat), arg(cid)
		driverWhere = append(driverWhere, at+" <= "+a, "("+at+" < "+a+" OR "+id+" < "+i+")")
	}
	driverArgs := len(args) // the window's query has only the driver's conditions
	if drv != nil && f.FeedType != "" {
		rowWhere = append(rowWhere, "d.feed_type = "+arg(f.FeedType))
	}
	if f.FeedName != "" {
		rowWhere = append(rowWhere, "d.feed_name = "+arg(f.FeedName))
	}
	if f.RuleName != "" && (drv == nil || drv.table != "decision_matches") {
		rowWhere = append(rowWhere, "EXISTS (SELECT 1 FROM decision_matches m WHERE m.decision_id = d.id AND m.rule_name = "+arg(f.RuleName)+")")
	}
	if f.Outcome != "" && (drv == nil || drv.table != "decision_outcomes") {
		rowWhere = append(rowWhere, "EXISTS (SELECT 1 FROM decision_outcomes o WHERE o.decision_id = d.id AND o.outcome = "+arg(f.Outcome)+")")
	}
	if f.Text != "" {
		needle := strings.ToLower(capString(f.Text, maxDecisionTextFind))
		r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		rowWhere = append(rowWhere, "d.search LIKE "+arg("%"+r.Replace(needle)+"%")+` ESCAPE '\'`)
	}

	tx, err := s.beginRead(ctx)
	if err != nil {
		return DecisionPage{}, fmt.Errorf("store: list decisions: %w", err)
	}
	defer tx.Rollback()

	// A filter checked per row reads ScanWindow rows at most: the window
	// ends at the ScanWindow-th row the driver gives (none: the rest).
	var window []any // received_at, id of the window's last row
	if len(rowWhere) > 0 {
		q := `SELECT ` + at + `, ` + id + ` FROM ` + strings.Replace(from, " CROSS JOIN decisions d", "", 1)
		if len(driverWhere) > 0 {
			q += " WHERE " + strings.Join(driverWhere, " AND ")
		}
		q += " ORDER BY " + at + " DESC, " + id + " DESC LIMIT 1 OFFSET " + strconv.Itoa(s.window()-1)
		var wat int64
		var wid string
		err := tx.queryRow(ctx, q, args[:driverArgs]...).Scan(&wat, &wid)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return DecisionPage{}, fmt.Errorf("store: list decisions: window: %w", err)
		default:
			window = []any{wat, wid}
			a, i := arg(wat), arg(wid)
			driverWhere = append(driverWhere, at+" >= "+a, "("+at+" > "+a+" OR "+id+" >= "+i+")")
		}
	}
	where := driverWhere
	if drv != nil {
		where = append([]string{"d.id = k.decision_id"}, where...)
	}
	where = append(where, rowWhere...)
	q := `SELECT ` + decisionColumns + ` FROM ` + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + at + " DESC, " + id + " DESC LIMIT " + arg(limit+1)
	if s.onListQuery != nil {
		s.onListQuery(q, args)
	}
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return DecisionPage{}, fmt.Errorf("store: list decisions: %w", err)
	}
	var page DecisionPage
	for rows.Next() {
		d, err := scanDecision(rows, false)
		if err != nil {
			rows.Close()
			return DecisionPage{}, fmt.Errorf("store: list decisions: %w", err)
		}
		page.Decisions = append(page.Decisions, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return DecisionPage{}, fmt.Errorf("store: list decisions: %w", err)
	}
	switch {
	case len(page.Decisions) > limit:
		page.Decisions = page.Decisions[:limit]
		last := page.Decisions[limit-1]
		page.Next = encodeCursor(micros(last.ReceivedAt), last.ID)
	case window != nil:
		// The window was read to its end: the next page reads on from it.
		page.Next = encodeCursor(window[0].(int64), window[1].(string))
	}
	if err := s.fillDecisions(ctx, tx, page.Decisions); err != nil {
		return DecisionPage{}, fmt.Errorf("store: list decisions: %w", err)
	}
	return page, tx.Commit()
}

// fillDecisions sets the Executions (current status) and Hosts of ds.
func (s *SQL) fillDecisions(ctx context.Context, tx *txn, ds []*api.Decision) error {
	byID := map[string]*api.Decision{}
	for lo := 0; lo < len(ds); lo += insertBatch {
		chunk := ds[lo:min(len(ds), lo+insertBatch)]
		args := make([]any, len(chunk))
		for i, d := range chunk {
			args[i] = d.ID
			byID[d.ID] = d
		}
		rows, err := tx.query(ctx, `SELECT de.decision_id, x.id, x.rule_name, x.status
			FROM decision_executions de JOIN executions x ON x.id = de.execution_id
			WHERE de.decision_id IN (`+placeholders(1, len(chunk))+`) ORDER BY de.decision_id, x.created_at, x.id`, args...)
		if err != nil {
			return fmt.Errorf("executions: %w", err)
		}
		for rows.Next() {
			var did string
			var x api.DecisionExecution
			if err := rows.Scan(&did, &x.ID, &x.RuleName, &x.Status); err != nil {
				rows.Close()
				return fmt.Errorf("executions: %w", err)
			}
			d := byID[did]
			d.Executions = append(d.Executions, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("executions: %w", err)
		}
	}
	type ref struct{ d, x int }
	var execIDs []string
	where := map[string][]ref{}
	for i, d := range ds {
		for j, x := range d.Executions {
			if where[x.ID] == nil {
				execIDs = append(execIDs, x.ID)
			}
			where[x.ID] = append(where[x.ID], ref{i, j})
		}
	}
	for lo := 0; lo < len(execIDs); lo += insertBatch {
		chunk := execIDs[lo:min(len(execIDs), lo+insertBatch)]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := tx.query(ctx, `SELECT execution_id, entity FROM execution_entities
			WHERE execution_id IN (`+placeholders(1, len(chunk))+`) ORDER BY execution_id, position`, args...)
		if err != nil {
			return fmt.Errorf("entities: %w", err)
		}
		for rows.Next() {
			var xid, e string
			if err := rows.Scan(&xid, &e); err != nil {
				rows.Close()
				return fmt.Errorf("entities: %w", err)
			}
			for _, r := range where[xid] {
				x := &ds[r.d].Executions[r.x]
				x.Entities = append(x.Entities, e)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("entities: %w", err)
		}
	}
	for _, d := range ds {
		seen := map[string]bool{}
		for _, x := range d.Executions {
			for _, e := range x.Entities {
				if k := strings.ToLower(e); !seen[k] {
					seen[k] = true
					d.Hosts = append(d.Hosts, e)
				}
			}
		}
	}
	return nil
}

func (s *SQL) GetDecision(ctx context.Context, id string) (*api.Decision, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: get decision: %w", err)
	}
	defer tx.Rollback()
	d, err := scanDecision(tx.queryRow(ctx, `SELECT `+decisionColumns+`, d.payload FROM decisions d WHERE d.id = $1`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrDecisionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get decision: %w", err)
	}
	if err := s.fillDecisions(ctx, tx, []*api.Decision{d}); err != nil {
		return nil, fmt.Errorf("store: get decision: %w", err)
	}
	return d, tx.Commit()
}

func (s *SQL) PruneDecisions(ctx context.Context, cutoff time.Time) (int, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: prune decisions: %w", err)
	}
	defer tx.Rollback()
	n, err := s.pruneDecisions(ctx, tx, cutoff)
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

func (s *SQL) pruneDecisions(ctx context.Context, tx *txn, cutoff time.Time) (int, error) {
	old := `SELECT id FROM decisions WHERE received_at < $1`
	for _, t := range []string{"decision_matches", "decision_executions", "decision_hosts", "decision_outcomes"} {
		if _, err := tx.exec(ctx, `DELETE FROM `+t+` WHERE decision_id IN (`+old+`)`, micros(cutoff)); err != nil {
			return 0, fmt.Errorf("store: prune decisions: %s: %w", t, err)
		}
	}
	res, err := tx.exec(ctx, `DELETE FROM decisions WHERE received_at < $1`, micros(cutoff))
	if err != nil {
		return 0, fmt.Errorf("store: prune decisions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
