package server

import (
	"errors"
	"net"

	sconfig "github.com/alexis-ops/alexis/shared/config"
	"github.com/alexis-ops/alexis/shared/logging"
	"github.com/alexis-ops/alexis/shared/secretfile"
)

// Config is the server block every service's configuration embeds inline,
// so its keys sit at the top level of each YAML file and are validated
// here, once, with the same key paths in every service:
//
//	listen: 127.0.0.1:8081            # host:port
//	tokens_file: /run/secrets/tokens  # inbound client tokens; required with listen
//	body_limit: 1048576               # bytes
//	log: {format: logfmt, level: info}
//	tls: {cert_file: "", key_file: ""}  # both set: HTTPS
//
// A service embeds it as
//
//	type Config struct {
//		server.Config `yaml:",inline"`
//		...
//	}
//
// starts from Defaults and calls Validate from its own Validate. A new
// server option is one field here, its default in Defaults, its check in
// Validate and, if it names a secret, an entry in SecretFiles.
type Config struct {
	Listen     string          `yaml:"listen"`      // host:port
	TokensFile string          `yaml:"tokens_file"` // inbound client tokens (shared/auth)
	BodyLimit  int64           `yaml:"body_limit"`  // bytes
	Log        logging.Options `yaml:"log"`
	TLS        TLSFiles        `yaml:"tls"` // serve HTTPS with this certificate and key
}

// Listen says whether a service must serve HTTP.
type Listen int

const (
	// ListenRequired: listen must be a host:port (the classifier and the
	// action handler, whose API is their input).
	ListenRequired Listen = iota
	// ListenOptional: an empty listen serves nothing (the poller, whose
	// API only reports).
	ListenOptional
)

// Defaults returns the server block's defaults, listening on listen
// ("" for none).
func Defaults(listen string) Config {
	return Config{
		Listen:    listen,
		BodyLimit: DefaultBodyLimit,
		Log:       logging.Options{Format: "logfmt", Level: "info"},
	}
}

// Validate reports every problem of the block at once, each naming its
// key: listen a host:port (unless listen is optional and empty),
// tokens_file a readable file whenever listen is set (checked if set
// otherwise), body_limit positive, log and tls as logging.Options and
// TLSFiles validate them.
func (c Config) Validate(listen Listen) error {
	var p sconfig.Problems
	if c.Listen != "" || listen == ListenRequired {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			p.Addf("listen", "want host:port, got %q", c.Listen)
		}
		p.File("tokens_file", c.TokensFile)
	} else {
		p.OptionalFile("tokens_file", c.TokensFile)
	}
	if c.BodyLimit <= 0 {
		p.Addf("body_limit", "must be a positive number of bytes")
	}
	return errors.Join(p.Err(), c.Log.Validate("log."), c.TLS.Validate("tls."))
}

// SecretFiles are the block's files holding secrets or private keys, for
// the permission check at start (shared/secretfile).
func (c Config) SecretFiles() []secretfile.File {
	return []secretfile.File{
		{Field: "tokens_file", Path: c.TokensFile},
		{Field: "tls.key_file", Path: c.TLS.KeyFile, Kind: secretfile.Key},
	}
}
