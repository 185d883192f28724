// Package httpclient is the outbound JSON client Alexis services use to
// call each other: every call has a timeout, carries the service's own
// bearer token, and reads at most a bounded answer.
package httpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/alexis-ops/alexis/shared/api"
	"github.com/alexis-ops/alexis/shared/config"
)

// MaxResponse is the most of an answer body that is read.
const MaxResponse = 4 << 20

// Options configure New.
type Options struct {
	Token   config.Secret // sent as "Authorization: Bearer"
	Timeout time.Duration // whole request; 0 means 10 s
	CAFile  string        // PEM bundle to verify HTTPS peers; "" uses the system roots
	// Sign, when set, adds headers computed from the exact body sent (the
	// classifier's request signature, shared/auth).
	Sign func(h http.Header, body []byte)
}

// Client posts JSON to Alexis services.
type Client struct {
	http  *http.Client
	token config.Secret
	sign  func(http.Header, []byte)
}

// Connection pool defaults of Transport: every outbound call of every
// service (action handlers, OpsGenie, Dynatrace, ticket webhooks) keeps its
// connections open between calls, so a storm of write-backs does not open a
// TCP (and TLS) connection per call.
const (
	MaxIdleConnsPerHost   = 128
	IdleConnTimeout       = 90 * time.Second
	DialTimeout           = 5 * time.Second
	TLSHandshakeTimeout   = 10 * time.Second
	ExpectContinueTimeout = time.Second
)

// TransportOptions configure Transport.
type TransportOptions struct {
	// CAFile is a PEM bundle to verify HTTPS peers; "" uses the system roots.
	CAFile string
	// MaxIdleConnsPerHost caps the connections kept open per host between
	// calls; 0 means MaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
}

// Transport is the one HTTP transport Alexis's outbound clients are built
// on: keep-alive connections pooled per host (up to MaxIdleConnsPerHost
// idle, closed after IdleConnTimeout unused), bounded dial and TLS
// handshake times, TLS 1.2 at least, HTTP/2 when the peer offers it.
// Requests still need their own overall timeout (http.Client.Timeout).
func Transport(o TransportOptions) (*http.Transport, error) {
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates", o.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * o.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		IdleConnTimeout:       IdleConnTimeout,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ExpectContinueTimeout: ExpectContinueTimeout,
		TLSClientConfig:       tlsCfg,
	}, nil
}

// New builds a client.
func New(o Options) (*Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	tr, err := Transport(TransportOptions{CAFile: o.CAFile})
	if err != nil {
		return nil, err
	}
	return &Client{http: &http.Client{Timeout: o.Timeout, Transport: tr}, token: o.Token, sign: o.Sign}, nil
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code int
	Msg  string // the answer's "error" field, or its start
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Code, e.Msg) }

// Temporary reports whether trying again later may succeed (5xx, 429).
func (e *StatusError) Temporary() bool { return e.Code >= 500 || e.Code == http.StatusTooManyRequests }

// PostJSON sends body as JSON to url and decodes a 2xx answer into out (if
// not nil). It returns the status code; a non-2xx answer is a *StatusError.
func (c *Client) PostJSON(ctx context.Context, url string, body, out any) (int, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return 0, fmt.Errorf("encode body: %w", err)
	}
	return c.Post(ctx, url, payload, out)
}

// Post is PostJSON for a body already encoded as JSON (sent as it is, not
// checked or re-encoded).
func (c *Client) Post(ctx context.Context, url string, payload []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if !c.token.Empty() {
		req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	}
	if c.sign != nil {
		c.sign(req.Header, payload)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var ae api.Error
		msg := string(data)
		if json.Unmarshal(data, &ae) == nil && ae.Error != "" {
			msg = ae.Error
		}
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return resp.StatusCode, &StatusError{Code: resp.StatusCode, Msg: msg}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// IsTemporary reports whether err is worth retrying: a transport error or a
// 5xx/429 answer.
func IsTemporary(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Temporary()
	}
	return err != nil
}
