package config

import (
	"testing"

	sconfig "github.com/alexis-ops/alexis/shared/config"
)

// FuzzDecode: no configuration text makes loading panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:8081\naction_handlers: {linux: 'http://x/'}\n"))
	f.Add([]byte("opsgenie: {api_url: x, timeout: 5s}\naction_handler_timeout: 1m\n"))
	f.Add([]byte("action_handlers: [1, 2]\nlog: {format: json}\n"))
	f.Add([]byte("tickets: {opsgenie: {api_key_file: x}, feeds: {eu: {}}}\nwebhooks: [{name: a, feed_type: b, id_path: c}]\ntls: {cert_file: x}\nalertmanager: {feed_name: p}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = sconfig.Decode(data, "fuzz", Default())
	})
}
