// Package healthcheck is the `<service> healthcheck` subcommand every Alexis
// binary offers, so a container image can check its service with the
// service's own binary (Docker HEALTHCHECK) instead of curl and a shell:
//
//	classifier healthcheck [-config PATH] [-url URL] [-timeout 3s] [-ca-file PEM]
//
// It reads the `listen` key of the service's configuration file, GETs
// /v1/ping on that address (a wildcard host such as 0.0.0.0 or [::] is asked
// on loopback) and succeeds when the answer is 200. When the configuration
// serves HTTPS (`tls: {cert_file, key_file}`), it asks over HTTPS and
// accepts exactly the certificate in tls.cert_file: the service is checking
// itself, under whatever name its certificate carries. -url skips the
// configuration file and asks that URL instead (verified against -ca-file,
// or the system roots, for https).
package healthcheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultTimeout bounds the whole check.
const DefaultTimeout = 3 * time.Second

// PingPath is the unauthenticated health endpoint of every service.
const PingPath = "/v1/ping"

// Options describe the service being checked.
type Options struct {
	// Service names the binary in messages ("classifier").
	Service string
	// DefaultConfig is the configuration path used without -config.
	DefaultConfig string
	// DefaultListen is the service's listen default, used when the
	// configuration file sets none. Empty means the service serves no HTTP
	// unless configured to (the poller): the check then passes, since the
	// process running is all there is to check.
	DefaultListen string
}

// Run performs one check. args are the arguments after "healthcheck". It
// prints one line to stdout when the service answered, and returns an error
// saying what failed otherwise (the caller exits non-zero).
func Run(ctx context.Context, opts Options, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(opts.Service+" healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", opts.DefaultConfig, "configuration file whose `listen` address is checked")
	rawURL := fs.String("url", "", "URL to GET instead of the configured listen address")
	timeout := fs.Duration("timeout", DefaultTimeout, "time limit for the whole check")
	caFile := fs.String("ca-file", "", "PEM bundle to verify an https URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected arguments %q", fs.Args())
	}
	if *timeout <= 0 {
		return errors.New("healthcheck: -timeout must be positive")
	}

	target := *rawURL
	var pinned []byte // DER of the only certificate accepted, when set
	if target == "" {
		c, err := readConfig(*configPath, opts.DefaultListen)
		if err != nil {
			return err
		}
		if c.Listen == "" {
			fmt.Fprintf(stdout, "ok: %s serves no HTTP (no listen address in %s); nothing to ask\n", opts.Service, *configPath)
			return nil
		}
		https := c.TLS.CertFile != ""
		if target, err = PingURL(c.Listen, https); err != nil {
			return err
		}
		if https && *caFile == "" {
			if pinned, err = leafDER(c.TLS.CertFile); err != nil {
				return err
			}
		}
	}

	client, err := newClient(*caFile, pinned)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := Check(ctx, client, target); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s\n", target)
	return nil
}

// Check GETs url and returns nil when the answer is 200 OK.
func Check(ctx context.Context, client *http.Client, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: status %d", target, resp.StatusCode)
	}
	return nil
}

// PingURL turns a listen address (host:port) into the URL of its ping
// endpoint, https when the service serves TLS. An empty or wildcard host is
// asked on loopback.
func PingURL(listen string, https bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("healthcheck: listen %q: want host:port", listen)
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: PingPath}
	return u.String(), nil
}

// serviceConfig is the part of a service configuration the check needs.
type serviceConfig struct {
	Listen string
	TLS    struct {
		CertFile string `yaml:"cert_file"`
	}
}

// readConfig reads the top-level `listen` and `tls.cert_file` keys of the
// service's configuration; the service itself validates the rest when it
// starts. fallback is used when listen is absent.
func readConfig(path, fallback string) (serviceConfig, error) {
	var out serviceConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return out, fmt.Errorf("healthcheck: read config: %w", err)
	}
	var c struct {
		Listen *string `yaml:"listen"`
		TLS    struct {
			CertFile string `yaml:"cert_file"`
		} `yaml:"tls"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return out, fmt.Errorf("healthcheck: config %s: %w", path, err)
	}
	out.Listen = fallback
	if c.Listen != nil {
		out.Listen = *c.Listen
	}
	out.TLS.CertFile = c.TLS.CertFile
	return out, nil
}

// leafDER returns the first certificate of a PEM file.
func leafDER(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("healthcheck: tls.cert_file: %w", err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("healthcheck: tls.cert_file %s: no PEM certificate", path)
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes, nil
		}
	}
}

// newClient verifies https against caFile when given; otherwise, with
// pinned set, accepts only that certificate (by its exact bytes).
func newClient(caFile string, pinned []byte) (*http.Client, error) {
	// No proxy from the environment: the check is about this container.
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	switch {
	case caFile != "":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("healthcheck: ca file %s: no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	case pinned != nil:
		tr.TLSClientConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The name checks are replaced by comparing the certificate
			// served with the configured one, byte for byte.
			InsecureSkipVerify: true,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 || !bytes.Equal(raw[0], pinned) {
					return errors.New("served certificate is not the one in tls.cert_file")
				}
				return nil
			},
		}
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}
