package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/httpclient"
)

// Classifier calls the classifier's rule endpoints (GET /v1/rules,
// POST /v1/rules/explain; classifier/internal/httpapi) with the console's
// own token (console.classifier_token_file, scope read there).
type Classifier struct {
	base  string
	token sconfig.Secret
	http  *http.Client
}

// ClassifierOptions configure NewClassifier.
type ClassifierOptions struct {
	URL     string // e.g. http://classifier:8081
	Token   sconfig.Secret
	CAFile  string
	Timeout time.Duration // default 10 s
}

// NewClassifier builds the client on shared/httpclient's transport.
func NewClassifier(o ClassifierOptions) (*Classifier, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	tr, err := httpclient.Transport(httpclient.TransportOptions{CAFile: o.CAFile, MaxIdleConnsPerHost: 4})
	if err != nil {
		return nil, err
	}
	return &Classifier{base: strings.TrimRight(o.URL, "/"), token: o.Token,
		http: &http.Client{Timeout: o.Timeout, Transport: tr}}, nil
}

// RuleFile is one entry of GET /v1/rules.
type RuleFile struct {
	File        string      `json:"file"`
	RuleName    string      `json:"rule_name"`
	RuleVersion string      `json:"rule_version"`
	Enabled     bool        `json:"enabled"`
	Status      string      `json:"status"` // ok, invalid
	Errors      []RuleError `json:"errors"`
	Modified    time.Time   `json:"modified"`
}

// RuleError is one problem of an invalid rule file.
type RuleError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Explanation is what one rule file decides for an alert.
type Explanation struct {
	File        string      `json:"file"`
	RuleName    string      `json:"rule_name"`
	RuleVersion string      `json:"rule_version"`
	Status      string      `json:"status"`
	Failure     *Failure    `json:"failure"`
	Errors      []RuleError `json:"errors"`
	Error       string      `json:"error"`
	Wait        string      `json:"wait"`
	Age         string      `json:"age"`
}

// Failure is the first condition that failed.
type Failure struct {
	RulePath     string          `json:"rule_path"`
	AlertPath    string          `json:"alert_path"`
	Op           string          `json:"op"`
	Expected     json.RawMessage `json:"expected"`
	Actual       string          `json:"actual"`
	Reason       string          `json:"reason"`
	Alternatives []*Failure      `json:"alternatives"`
}

// ExplainAnswer is the answer of POST /v1/rules/explain.
type ExplainAnswer struct {
	UniqueValue string        `json:"unique_value"`
	FeedType    string        `json:"feed_type"`
	Now         time.Time     `json:"now"`
	Result      string        `json:"result"`
	Rules       []Explanation `json:"rules"`
}

// Rules lists the classifier's rule files.
func (c *Classifier) Rules(ctx context.Context) ([]RuleFile, error) {
	var out struct {
		Rules []RuleFile `json:"rules"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/rules", nil, &out); err != nil {
		return nil, err
	}
	return out.Rules, nil
}

// Explain asks what every rule decides for an alert envelope.
func (c *Classifier) Explain(ctx context.Context, envelope []byte) (*ExplainAnswer, error) {
	var out ExplainAnswer
	if err := c.do(ctx, http.MethodPost, "/v1/rules/explain", envelope, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Classifier) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("classifier %s: %w", path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !c.token.Empty() {
		req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("classifier %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, httpclient.MaxResponse))
	if err != nil {
		return fmt.Errorf("classifier %s: read answer: %w", path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := ""
		var ae api.Error
		if json.Unmarshal(data, &ae) == nil {
			msg = ae.Error
		}
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return &httpclient.StatusError{Code: resp.StatusCode, Msg: msg}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("classifier %s: decode answer: %w", path, err)
	}
	return nil
}
