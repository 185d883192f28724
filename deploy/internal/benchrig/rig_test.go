package benchrig

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// The action body is the envelope byte for byte with "rule" appended as
// its last key, as the classifier forwards it.
func TestActionIsEnvelopePlusRule(t *testing.T) {
	r, err := WriteRules(t.TempDir(), 10, "true")
	if err != nil {
		t.Fatal(err)
	}
	env := r.Alert("a1", 13, true, "h1")
	act := r.Action("a1", 13, "h1")
	if !bytes.HasPrefix(act, env[:len(env)-1]) || !bytes.HasSuffix(act, []byte("}}")) {
		t.Fatalf("action %s does not extend envelope %s", act, env)
	}
	var got struct {
		ID      string            `json:"id"`
		Details map[string]string `json:"details"`
		Rule    struct {
			Name string `json:"rule_name"`
		} `json:"rule"`
	}
	if err := json.Unmarshal(act, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "a1" || got.Details["host"] != "h1" || got.Rule.Name != "rule_00003" {
		t.Fatalf("action decoded as %+v", got)
	}
	files, _ := os.ReadDir(r.Dir)
	if len(files) != 10 {
		t.Fatalf("%d rule files, want 10", len(files))
	}
}

func TestMetricSumsMatchingSamplesOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`# HELP x_total x
x_total{status="dry_run"} 5
x_total{status="duplicate"} 2
x_total_other{status="dry_run"} 100
x_totalx 7
y_total 1e+06
`))
	}))
	defer srv.Close()
	r := &Rig{ClientToken: "tok"}
	for _, tc := range []struct {
		name, metric string
		match        []string
		want         float64
	}{
		{"all labels", "x_total", nil, 7},
		{"one label", "x_total", []string{`status="duplicate"`}, 2},
		{"no labels, exponent", "y_total", nil, 1e6},
		{"absent", "z_total", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Metric(context.Background(), srv.URL, tc.metric, tc.match...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := (&Rig{ClientToken: "bad"}).Metric(context.Background(), srv.URL, "x_total"); err == nil {
		t.Fatal("a 401 was read as metrics")
	}
}
