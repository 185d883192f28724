package dynatrace

import (
	"strings"
	"testing"

	"github.com/alexis-ops/alexis/poller/internal/feed"
	"gopkg.in/yaml.v3"
)

// decodeBlock decodes a dynatrace block as the poller's configuration
// does, for entry feeds[0].
func decodeBlock(t *testing.T, block string, s feed.Settings) (*Config, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(block), &n); err != nil {
		t.Fatal(err)
	}
	b, err := Type().Decode("feeds[0].", s, n.Content[0])
	if err != nil {
		return nil, err
	}
	return b.(*Config), nil
}

func TestConfigBlock(t *testing.T) {
	ty := Type()
	if ty.Name != "Dynatrace" || ty.Key != "dynatrace" || ty.UniqueKey != "problemId" || ty.Query != feed.QueryRefused {
		t.Errorf("type %+v", ty)
	}
	c, err := decodeBlock(t, "{api_url: 'https://abc.live.dynatrace.com', api_token_file: /k}", feed.Settings{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ProblemSelector != DefaultProblemSelector || c.PageSize != 100 {
		t.Errorf("defaults not filled in: %+v", c)
	}
	if f := c.SecretFiles("feeds[0]."); len(f) != 1 || f[0].Field != "feeds[0].dynatrace.api_token_file" || f[0].Path != "/k" {
		t.Errorf("secret files %+v", f)
	}

	_, err = decodeBlock(t, "{api_url: 'abc.live.dynatrace.com', page_size: 501, colour: red}", feed.Settings{Name: "p"})
	for _, w := range []string{
		"feeds[0].dynatrace: field colour not found",
		"feeds[0].dynatrace.api_url: URL must be http:// or https://",
		"feeds[0].dynatrace.api_token_file: required",
		"feeds[0].dynatrace.page_size: must be 1..500",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
