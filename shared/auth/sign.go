package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the classifier's signature of a forwarded action
// request:
//
//	X-Alexis-Signature: t=1767225600,v1=<hex HMAC-SHA256>
//
// The MAC is over "<t>." followed by the exact request body, with the key
// both services read from a secret file (forward_key_file on the
// classifier, signing_key_file on the action handler).
const SignatureHeader = "X-Alexis-Signature"

// MinKeyLength is the shortest signing key accepted, in bytes.
const MinKeyLength = 32

// DefaultMaxAge is how old (or how far in the future) a signature may be.
const DefaultMaxAge = 5 * time.Minute

// Signature errors (Verify).
var (
	ErrNoSignature  = errors.New("no " + SignatureHeader + " header")
	ErrBadSignature = errors.New("signature does not match the body")
	ErrStale        = errors.New("signature timestamp outside the accepted window")
	ErrMalformed    = errors.New("malformed signature header (want t=UNIX,v1=HEX)")
)

// Key is an HMAC key shared by the classifier and the action handler.
type Key struct {
	k []byte
}

// LoadKey reads a signing key file (surrounding white space trimmed; at
// least MinKeyLength bytes).
func LoadKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	k, err := NewKey([]byte(strings.TrimSpace(string(data))))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// NewKey wraps key bytes.
func NewKey(b []byte) (*Key, error) {
	if len(b) < MinKeyLength {
		return nil, fmt.Errorf("key shorter than %d bytes", MinKeyLength)
	}
	return &Key{k: append([]byte(nil), b...)}, nil
}

// String never reveals the key.
func (k *Key) String() string { return "<secret>" }

func (k *Key) mac(ts string, body []byte) []byte {
	m := hmac.New(sha256.New, k.k)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the SignatureHeader value for body at time now.
func (k *Key) Sign(body []byte, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(k.mac(ts, body))
}

// Verify checks a SignatureHeader value against body: it must match and
// its time be within maxAge of now (either side).
func (k *Key) Verify(header string, body []byte, now time.Time, maxAge time.Duration) error {
	if header == "" {
		return ErrNoSignature
	}
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		key, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return ErrMalformed
		case key == "t" && ts == "":
			ts = v
		case key == "v1" && sig == "":
			sig = v
		default:
			return ErrMalformed
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrMalformed
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return ErrMalformed
	}
	if !hmac.Equal(got, k.mac(ts, body)) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > maxAge || d < -maxAge {
		return fmt.Errorf("%w (signed at %s, %s)", ErrStale, time.Unix(unix, 0).UTC().Format(time.RFC3339), maxAge)
	}
	return nil
}
