package feed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/alert"
	"github.com/alexis-ops/alexis/shared/secretfile"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
)

// Settings are the keys every feeds[] entry has, whatever its type, with
// their defaults filled in.
type Settings struct {
	Name      string        // unique; the envelopes' feed_name
	Query     string        // the source's search; each type says whether it takes one
	Lookback  time.Duration // only alerts this recent
	UniqueKey string        // gjson path of the record field identifying an alert
}

// Block is a feed type's own block of a feeds[] entry (opsgenie: {...}),
// decoded strictly into the type's struct.
type Block interface {
	// Validate fills in the block's defaults, then reports every problem of
	// the block (and of the entry's settings, beyond what the
	// configuration checks), each under its key path: key is the entry's
	// ("feeds[0]."), the block's keys are under key+<block key>+".".
	Validate(key string, s Settings) error
	// SecretFiles are the block's files holding secrets, named by key
	// path under key, for the permission check at start.
	SecretFiles(key string) []secretfile.File
	// New builds the feed.
	New(s Settings, log zerolog.Logger) (Feed, error)
}

// Type is one kind of pull feed: what package feeds registers. The
// poller's configuration and its run know feed types only through it.
// Build one with Define.
type Type struct {
	// Name is the canonical feed type (shared/alert FeedType*): the
	// feed_type of its envelopes, and, in any case, the feeds[].type
	// that selects it.
	Name string
	// Key is the key of the type's block in a feeds[] entry ("opsgenie").
	Key string
	// UniqueKey is the default unique_key of its feeds.
	UniqueKey string
	// Query says whether its entries take a query.
	Query Query
	// QueryHint, for QueryRefused, says what to write instead.
	QueryHint string

	decode func(key string, s Settings, n *yaml.Node) (Block, error)
}

// Query says whether a feed type's entries take a query. The
// configuration checks it even when the entry has no block.
type Query int

// Query rules.
const (
	QueryOptional Query = iota
	QueryRequired
	QueryRefused
)

// Spec describes a feed type to Define. B is a pointer to the type's
// config struct.
type Spec[B Block] struct {
	Name      string // canonical feed type, e.g. alert.FeedTypeOpsGenie
	Key       string // lower-case key of its block, e.g. "opsgenie"
	UniqueKey string // default unique_key
	Query     Query
	QueryHint string   // for QueryRefused: what to use instead
	Zero      func() B // a new block, holding any defaults to set before decoding
}

// blockKey is what a block's key may look like.
var blockKey = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Define makes the feed type s describes. Its blocks are decoded strictly
// (unknown keys are errors) into what s.Zero returns, then validated.
func Define[B Block](s Spec[B]) Type {
	if s.Name == "" || !blockKey.MatchString(s.Key) || s.UniqueKey == "" || s.Zero == nil {
		panic(fmt.Sprintf("feed.Define(%q, %q): want a feed type, a lower-case block key, a unique key and Zero", s.Name, s.Key))
	}
	return Type{Name: s.Name, Key: s.Key, UniqueKey: s.UniqueKey, Query: s.Query, QueryHint: s.QueryHint,
		decode: func(entry string, set Settings, n *yaml.Node) (Block, error) {
			b := s.Zero()
			var errs []error
			if err := DecodeStrict(n, b); err != nil {
				errs = append(errs, fmt.Errorf("%s%s: %w", entry, s.Key, err))
			}
			// What did decode is validated too: every problem at once.
			if err := b.Validate(entry, set); err != nil {
				errs = append(errs, err)
			}
			if len(errs) > 0 {
				return nil, errors.Join(errs...)
			}
			return b, nil
		}}
}

// Decode decodes and validates the block n of the feeds[] entry at key
// (a Type built by Define; the zero Type decodes nothing).
func (t Type) Decode(key string, s Settings, n *yaml.Node) (Block, error) {
	if t.decode == nil {
		return nil, fmt.Errorf("%stype: feed type %q was not built with feed.Define", key, t.Name)
	}
	return t.decode(key, s, n)
}

// Types are the registered feed types (package feeds).
type Types []Type

// Lookup returns the type that name spells in any case.
func (ts Types) Lookup(name string) (Type, bool) {
	for _, t := range ts {
		if _, ok := alert.CanonicalFeedType(name, t.Name); ok {
			return t, true
		}
	}
	return Type{}, false
}

// Known reports whether name spells a type in any case.
func (ts Types) Known(name string) bool {
	_, ok := ts.Lookup(name)
	return ok
}

// ByKey returns the type whose block key is key.
func (ts Types) ByKey(key string) (Type, bool) {
	for _, t := range ts {
		if t.Key == key {
			return t, true
		}
	}
	return Type{}, false
}

// String lists the types as users write them in feeds[].type, for
// messages.
func (ts Types) String() string {
	keys := make([]string, len(ts))
	for i, t := range ts {
		keys[i] = t.Key
	}
	return strings.Join(keys, ", ")
}

// lineNo is the position yaml.v3 puts before each message; it would point
// into the re-encoded block, not into the file.
var lineNo = regexp.MustCompile(`(?m)^\s*line \d+: `)

// DecodeStrict decodes n into dst rejecting unknown keys (yaml.v3's
// Node.Decode does not). A nil n decodes nothing.
func DecodeStrict(n *yaml.Node, dst any) error {
	if n == nil {
		return nil
	}
	budget := maxNodes
	n, err := resolve(n, &budget)
	if err != nil {
		return err
	}
	data, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = lineNo.ReplaceAllString(m, "")
			}
			return errors.New(strings.Join(msgs, "; "))
		}
		return errors.New(lineNo.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), ""))
	}
	return nil
}

// maxNodes bounds the nodes a block may expand to through aliases.
const maxNodes = 10000

// resolve copies n with every alias replaced by what it names, so the
// block can be encoded on its own (an alias to an anchor elsewhere in the
// file would not resolve there).
func resolve(n *yaml.Node, budget *int) (*yaml.Node, error) {
	if *budget--; *budget < 0 {
		return nil, errors.New("block expands to too many values through aliases")
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil, errors.New("alias to nothing")
		}
		return resolve(n.Alias, budget)
	}
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, ch := range n.Content {
		r, err := resolve(ch, budget)
		if err != nil {
			return nil, err
		}
		c.Content[i] = r
	}
	return &c, nil
}
