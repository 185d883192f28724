package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/httpclient"
)

// maxAnswer is the most of an answer read.
const maxAnswer = 16 << 20

// maxTokenFile is the largest token file read.
const maxTokenFile = 4 << 10

// client calls one service with the person's token.
type client struct {
	a       *app
	what    string // "action handler", "classifier": for messages
	base    string
	http    *http.Client
	token   string
	verbose io.Writer // nil: quiet
}

// actionHandler is a client of the action handler.
func (a *app) actionHandler() (*client, error) {
	base, err := a.base(a.url, "ALEXIS_URL", "action handler")
	if err != nil {
		return nil, err
	}
	return a.client("action handler", base)
}

// classifier is a client of the classifier.
func (a *app) classifier() (*client, error) {
	base, err := a.base(a.classifierURL, "ALEXIS_CLASSIFIER_URL", "classifier")
	if err != nil {
		return nil, err
	}
	return a.client("classifier", base)
}

func (a *app) client(what, base string) (*client, error) {
	tok, err := a.readToken()
	if err != nil {
		return nil, err
	}
	ca := orString(a.caFile, a.getenv("ALEXIS_CA_FILE"))
	tr, err := httpclient.Transport(httpclient.TransportOptions{CAFile: ca, MaxIdleConnsPerHost: 2})
	if err != nil {
		return nil, usagef("ca file: %v", err)
	}
	c := &client{a: a, what: what, base: base, token: tok, http: &http.Client{
		Timeout:   a.timeout,
		Transport: tr,
		// A redirect could carry the token elsewhere: follow none.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if a.verbose {
		c.verbose = a.stderr
	}
	return c, nil
}

// readToken reads the token file (-token-file, else $ALEXIS_TOKEN_FILE):
// it must be readable by its owner only, and hold one word.
func (a *app) readToken() (string, error) {
	if a.token != "" {
		return a.token, nil
	}
	path := orString(a.tokenFile, a.getenv("ALEXIS_TOKEN_FILE"))
	if path == "" {
		return "", usagef("no token file: set ALEXIS_TOKEN_FILE or give -token-file (a file holding your token, mode 0600)")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", usagef("token file: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", usagef("token file: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return "", usagef("token file %s: not a regular file", cleanLine(path))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		a.warn("token-mode", "token file %s is readable or writable by group or others (mode %04o); chmod 600 it", path, perm)
		return "", usagef("token file %s: refused: mode %04o lets others read or change it", cleanLine(path), perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", usagef("token file %s: %v", cleanLine(path), err)
	}
	if len(data) > maxTokenFile {
		return "", usagef("token file %s: larger than %d bytes; it should hold just the token", cleanLine(path), maxTokenFile)
	}
	tok := strings.TrimSpace(string(data))
	switch {
	case tok == "":
		return "", usagef("token file %s is empty", cleanLine(path))
	case strings.ContainsAny(tok, " \t\r\n"):
		// Never print what it holds: the words may be a token.
		return "", usagef("token file %s: holds more than one word; it should hold just the token", cleanLine(path))
	case strings.IndexFunc(tok, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0:
		return "", usagef("token file %s: holds characters a token cannot have", cleanLine(path))
	}
	a.token = tok
	return tok, nil
}

// apiError is an answer other than 2xx.
type apiError struct {
	what         string // "action handler"
	req          string // "GET /v1/executions/x"
	status       int
	msg          string // the answer's "error", or its start
	missingScope string
}

func (e *apiError) Error() string {
	msg := cleanLine(e.msg)
	switch {
	case e.status == http.StatusUnauthorized:
		return fmt.Sprintf("%s: the %s refused the token (401 %s); check the token file", e.req, e.what, msg)
	case e.status == http.StatusForbidden && e.missingScope != "":
		return fmt.Sprintf("%s: your token lacks scope %q on the %s (403 %s)", e.req, cleanLine(e.missingScope), e.what, msg)
	case e.status >= 300 && e.status < 400:
		return fmt.Sprintf("%s: the %s answered a redirect (%d), which is not followed; check the URL", e.req, e.what, e.status)
	}
	return fmt.Sprintf("%s: %d %s", e.req, e.status, msg)
}

func (e *apiError) exitCode() int {
	switch {
	case e.status == http.StatusNotFound:
		return exitNotFound
	case e.status == http.StatusUnauthorized || e.status == http.StatusForbidden:
		return exitAuth
	case e.status >= 500 || e.status == http.StatusTooManyRequests:
		return exitUnavailable
	case e.status == http.StatusBadRequest || e.status == http.StatusRequestEntityTooLarge ||
		e.status == http.StatusUnprocessableEntity:
		return exitUsage
	}
	return exitFailed
}

// do sends one request and returns the answer's status and body; an
// answer other than 2xx is an *apiError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body []byte) (int, []byte, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, usagef("%s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", name+"/"+version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		c.logf("%s %s: %v", method, u, unwrapURLError(err))
		return 0, nil, &exitError{code: exitUnavailable,
			err: fmt.Errorf("%s %s: cannot reach the %s at %s: %v", method, path, c.what, c.base, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	c.logf("%s %s: %d (%s, %d bytes)", method, u, resp.StatusCode, time.Since(start).Round(time.Millisecond), len(data))
	if err != nil {
		return resp.StatusCode, nil, &exitError{code: exitUnavailable, err: fmt.Errorf("%s %s: read answer: %v", method, path, unwrapURLError(err))}
	}
	if len(data) > maxAnswer {
		return resp.StatusCode, nil, &exitError{code: exitUnavailable, err: fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxAnswer)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{what: c.what, req: method + " " + path, status: resp.StatusCode}
		var ae api.Error
		if json.Unmarshal(data, &ae) == nil && ae.Error != "" {
			e.msg, e.missingScope = ae.Error, ae.MissingScope
		} else {
			e.msg = http.StatusText(resp.StatusCode)
		}
		if len(e.msg) > 300 {
			e.msg = e.msg[:300] + "…"
		}
		return resp.StatusCode, data, e
	}
	return resp.StatusCode, data, nil
}

// get fetches path and decodes the answer into out; it returns the
// answer's bytes (for -o json).
func (c *client) get(ctx context.Context, path string, query url.Values, out any) ([]byte, error) {
	_, data, err := c.do(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, &exitError{code: exitUnavailable, err: fmt.Errorf("GET %s: the %s's answer is not what %s expects: %v", path, c.what, name, err)}
		}
	}
	return data, nil
}

// post sends body and decodes a 2xx answer into out.
func (c *client) post(ctx context.Context, path string, query url.Values, body []byte, out any) (int, []byte, error) {
	status, data, err := c.do(ctx, http.MethodPost, path, query, body)
	if err != nil {
		return status, data, err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return status, nil, &exitError{code: exitUnavailable, err: fmt.Errorf("POST %s: the %s's answer is not what %s expects: %v", path, c.what, name, err)}
		}
	}
	return status, data, nil
}

func (c *client) logf(format string, args ...any) {
	if c.verbose != nil {
		fmt.Fprintf(c.verbose, "%s: %s\n", name, c.a.scrub(fmt.Sprintf(format, args...)))
	}
}

// unwrapURLError drops *url.Error's repetition of the method and URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out (see -timeout)")
		}
		return ue.Err
	}
	return err
}

// escapePath escapes one path segment (an id given on the command line).
func escapePath(s string) string { return url.PathEscape(s) }

// jsonDecode decodes an answer.
func jsonDecode(data []byte, out any) error { return json.Unmarshal(data, out) }
