package opsgenie

import (
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/poller/internal/feed"
	"gopkg.in/yaml.v3"
)

func TestConfigBlock(t *testing.T) {
	ty := Type()
	if ty.Name != "OpsGenie" || ty.Key != "opsgenie" || ty.UniqueKey != "tinyId" || ty.Query != feed.QueryRequired {
		t.Errorf("type %+v", ty)
	}
	decode := func(block string) (feed.Block, error) {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(block), &n); err != nil {
			t.Fatal(err)
		}
		return ty.Decode("feeds[1].", feed.Settings{Name: "a", Query: "x"}, n.Content[0])
	}
	b, err := decode("{api_url: api.eu.opsgenie.com, api_key_file: /k, retries: 3}")
	if err != nil {
		t.Fatal(err)
	}
	if c := b.(*Config); c.APIURL != "api.eu.opsgenie.com" || c.Retries != 3 {
		t.Errorf("block %+v", c)
	}
	if f := b.SecretFiles("feeds[1]."); len(f) != 1 || f[0].Field != "feeds[1].opsgenie.api_key_file" || f[0].Path != "/k" {
		t.Errorf("secret files %+v", f)
	}

	_, err = decode("{api_url: 'https://api.opsgenie.com/v2', retries: 20, colour: red}")
	for _, w := range []string{
		"feeds[1].opsgenie: field colour not found",
		"feeds[1].opsgenie.api_key_file: required",
		"feeds[1].opsgenie.api_url: want scheme://host[:port] without path",
		"feeds[1].opsgenie.retries: must be 0..10",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
