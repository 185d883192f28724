package benchrig

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/deploy/internal/sink"
)

// Rig is a scratch directory with secrets, a rules directory, the service
// binaries and an OpsGenie sink.
type Rig struct {
	Dir    string
	BinDir string
	OG     *sink.Server

	OGKey       string // the sink's API key
	ClientToken string // "bench": posts alerts and actions, reads, scrapes
	CToAHToken  string // the classifier's token on the action handler
	SigningKey  string

	files map[string]string // secret name → path
}

// New prepares a rig in dir, building the binaries into dir/bin unless
// binDir is given.
func New(ctx context.Context, dir, binDir string) (*Rig, error) {
	r := &Rig{Dir: dir, BinDir: binDir, files: map[string]string{}}
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	if r.BinDir == "" {
		r.BinDir = filepath.Join(dir, "bin")
		if err := Build(ctx, r.BinDir); err != nil {
			return nil, err
		}
	}
	r.OGKey, r.ClientToken, r.CToAHToken, r.SigningKey = token(), token(), token(), token()+token()
	secrets := map[string]string{
		"opsgenie_api_key":  r.OGKey,
		"classifier_tokens": "bench:" + r.ClientToken + " scopes=classify,read,metrics\n",
		"actionhandler_tokens": "classifier:" + r.CToAHToken + "\n" +
			"bench:" + r.ClientToken + " scopes=act,read,metrics\n",
		"poller_tokens":        "bench:" + r.ClientToken + " scopes=read,metrics\n",
		"classifier_out_token": r.CToAHToken,
		"poller_out_token":     r.ClientToken,
		"signing_key":          r.SigningKey,
	}
	for name, content := range secrets {
		p := filepath.Join(dir, "secrets", name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("rig: %w", err)
		}
		r.files[name] = p
	}
	var err error
	if r.OG, err = sink.OpsGenie(r.OGKey); err != nil {
		return nil, err
	}
	return r, nil
}

// Close stops the sink.
func (r *Rig) Close() { _ = r.OG.Close() }

// Secret is the path of a secret file.
func (r *Rig) Secret(name string) string { return r.files[name] }

// Build compiles the three service binaries into dir.
func Build(ctx context.Context, dir string) error {
	out, err := exec.CommandContext(ctx, "go", "env", "GOWORK").Output()
	if err != nil {
		return fmt.Errorf("build: go env GOWORK: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	for _, s := range []string{"classifier", "actionhandler", "poller"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, s), "./"+s+"/cmd/"+s)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w\n%s", s, err, b)
		}
	}
	return nil
}

func token() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// OpsGenieBlock is the tickets: block pointing at the sink.
func (r *Rig) OpsGenieBlock() string {
	return fmt.Sprintf("tickets:\n  opsgenie: {api_url: %q, api_key_file: %q, timeout: 5s, retries: 1}\n", r.OG.Addr(), r.Secret("opsgenie_api_key"))
}

// ClassifierOptions configure StartClassifier.
type ClassifierOptions struct {
	Name          string // log and config file names; default "classifier"
	RulesDir      string
	ActionHandler string // URL of POST /v1/action
	Extra         string // YAML appended
}

// StartClassifier starts the classifier on a free port.
func (r *Rig) StartClassifier(ctx context.Context, o ClassifierOptions) (*Proc, error) {
	if o.Name == "" {
		o.Name = "classifier"
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`listen: %q
tokens_file: %q
log: {format: logfmt, level: info}
rules_dir: %q
action_handlers:
  linux: %q
action_handler_token_file: %q
signing_key_file: %q
default_investigation_queue: queue_needsinvestigation
%s%s`, addr, r.Secret("classifier_tokens"), o.RulesDir, o.ActionHandler, r.Secret("classifier_out_token"),
		r.Secret("signing_key"), r.OpsGenieBlock(), o.Extra)
	return r.start(ctx, o.Name, "classifier", cfg, addr)
}

// ActionHandlerOptions configure StartActionHandler.
type ActionHandlerOptions struct {
	Name        string // default "actionhandler"
	Development bool
	SSH         string // the ssh: block (required unless Development)
	Extra       string
}

// StartActionHandler starts the action handler on SQLite in a new
// directory, on a free port.
func (r *Rig) StartActionHandler(ctx context.Context, o ActionHandlerOptions) (*Proc, error) {
	if o.Name == "" {
		o.Name = "actionhandler"
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	db := filepath.Join(r.Dir, o.Name+".db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(db + suffix)
	}
	cfg := fmt.Sprintf(`listen: %q
tokens_file: %q
log: {format: logfmt, level: info}
signing_key_file: %q
development: %t
investigation_queue: queue_needsinvestigation
store:
  sqlite_path: %q
%s%s%s`, addr, r.Secret("actionhandler_tokens"), r.Secret("signing_key"), o.Development, db, o.SSH, r.OpsGenieBlock(), o.Extra)
	return r.start(ctx, o.Name, "actionhandler", cfg, addr)
}

// StartPoller starts a poller with one OpsGenie feed on the sink.
func (r *Rig) StartPoller(ctx context.Context, classifierURL string) (*Proc, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`listen: %q
tokens_file: %q
loop_interval: 30s
state_file: %q
classifier:
  url: %q
  token_file: %q
  timeout: 10s
feeds:
  - name: incoming
    type: opsgenie
    query: "status:open AND teams:incoming"
    lookback: 24h
    unique_key: tinyId
    opsgenie: {api_url: %q, api_key_file: %q, timeout: 5s, retries: 1}
`, addr, r.Secret("poller_tokens"), filepath.Join(r.Dir, "poller-state.json"), classifierURL+"/v1/classifier",
		r.Secret("poller_out_token"), r.OG.Addr(), r.Secret("opsgenie_api_key"))
	return r.start(ctx, "poller", "poller", cfg, addr)
}

func (r *Rig) start(ctx context.Context, name, bin, cfg, addr string) (*Proc, error) {
	path := filepath.Join(r.Dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return StartProc(ctx, name, filepath.Join(r.BinDir, bin), path, filepath.Join(r.Dir, name+".log"), "http://"+addr)
}

// Metric scrapes url/metrics and sums the samples of name whose labels
// contain every one of match (e.g. `status="dry_run"`).
func (r *Rig) Metric(ctx context.Context, url, name string, match ...string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.ClientToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("metrics: %s: %s", resp.Status, b)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || len(line) <= len(name) || (line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		for _, m := range match {
			if !strings.Contains(line, m) {
				continue next
			}
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}
