// Package stack starts the whole Alexis pipeline for the end-to-end tests
// and the demo: the three service binaries as real processes talking HTTP,
// a local OpsGenie-compatible server (OpsGenie itself cannot be reached
// from here) and a real OpenSSH sshd as the remediation target.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/alexis-ops/alexis/shared/opsgenie/opsgenietest"
	"github.com/alexis-ops/alexis/shared/sshdtest"
)

// Services in start order (each one's peers first).
var Services = []string{"actionhandler", "classifier", "poller"}

// Queues the configs use.
const (
	InvestigationQueue = "queue_needsinvestigation"
	IncomingTeam       = "incoming"
	FeedQuery          = "status:open AND teams:incoming AND NOT teams:queue_autoremediation AND NOT teams:queue_needsinvestigation"
)

// Options configure Start.
type Options struct {
	Dir          string        // working directory (configs, secrets, logs, state)
	BinDir       string        // directory with the three binaries (see Build)
	RulesDir     string        // rules directory the classifier reads
	LogDir       string        // where the services' *.log files go; default Dir
	Mirror       io.Writer     // if set, every service log line is copied here
	LoopInterval time.Duration // poller loop; default 1s
	SSHAddr      string        // sshd listen address; default 127.0.0.2:0
	Development  bool          // action handler development (dry-run) mode
	// Config holds YAML appended to a service's configuration, by service
	// name (keys the stack does not set, e.g. classifier webhooks).
	Config map[string]string
	// Alertmanager, when set, starts Prometheus Alertmanager too, its
	// webhook receiver posting to the classifier (alertmanager.go).
	Alertmanager *AlertmanagerOptions
	// History configures the classifier's history: block, recording every
	// decision at the action handler (its token there gets scope record).
	History bool
	// Console configures the action handler's console: block (the web
	// console at /console/, reading rules and explain from the classifier
	// with a read-only token of its own).
	Console bool
}

// Stack is a running pipeline.
type Stack struct {
	OpsGenie     *opsgenietest.Server
	SSH          *sshdtest.Server
	Procs        map[string]*Proc
	Alertmanager *Alertmanager // with Options.Alertmanager

	ClassifierURL    string // base URL, e.g. http://127.0.0.1:PORT
	ActionHandlerURL string
	// UserToken is a person's token ("oncall") valid on the classifier and
	// the action handler, for posting to them directly.
	UserToken string
	// ViewerToken ("viewer") may only read, on all three services: the
	// console login and alexisctl's token. ViewerTokenFile holds it.
	ViewerToken     string
	ViewerTokenFile string

	opts Options
}

// Build compiles the three service binaries into dir.
func Build(ctx context.Context, dir string) error {
	for _, s := range Services {
		if err := BuildService(ctx, dir, s); err != nil {
			return err
		}
	}
	return nil
}

// BuildService compiles one service binary (one of Services) into dir.
func BuildService(ctx context.Context, dir, service string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, service), "./"+service+"/cmd/"+service)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", service, err, out)
	}
	return nil
}

// RepoRoot is the directory holding go.work.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	w := strings.TrimSpace(string(out))
	if w == "" || w == "off" {
		return "", fmt.Errorf("not inside the Alexis Go workspace (go.work not found)")
	}
	return filepath.Dir(w), nil
}

// Start brings the pipeline up and waits until every service answers
// /v1/ping. Close it when done.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.LoopInterval == 0 {
		o.LoopInterval = time.Second
	}
	if o.SSHAddr == "" {
		o.SSHAddr = "127.0.0.2:0"
	}
	if o.LogDir == "" {
		o.LogDir = o.Dir
	}
	s := &Stack{Procs: map[string]*Proc{}, opts: o}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	secrets := filepath.Join(o.Dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.LogDir, 0o755); err != nil {
		return nil, err
	}

	s.OpsGenie, err = opsgenietest.New(opsgenietest.Options{})
	if err != nil {
		return nil, fmt.Errorf("opsgenie server: %w", err)
	}
	s.SSH, err = sshdtest.Start(ctx, sshdtest.Options{Addr: o.SSHAddr, Dir: filepath.Join(o.Dir, "sshd")})
	if err != nil {
		return nil, fmt.Errorf("sshd: %w", err)
	}

	tok := map[string]string{}
	for _, name := range []string{"poller", "classifier", "oncall", "alertmanager", "viewer", "console"} {
		tok[name] = randomToken()
	}
	s.UserToken, s.ViewerToken = tok["oncall"], tok["viewer"]
	write := func(name, content string) (string, error) {
		p := filepath.Join(secrets, name)
		return p, os.WriteFile(p, []byte(content), 0o600)
	}
	ogKey, err := write("opsgenie_api_key", s.OpsGenie.APIKey()+"\n")
	if err != nil {
		return nil, err
	}
	// Least privilege: the poller and the classifier keep their services'
	// default scopes (the classifier also records its decisions when
	// History is on), Alertmanager may post its own feed only, the on-call
	// person may read, scrape and post rules of their own (adhoc), the
	// viewer and the console's classifier client may only read.
	classifierClients := "poller:" + tok["poller"] + "\noncall:" + tok["oncall"] + " scopes=classify,read,metrics\n" +
		"viewer:" + tok["viewer"] + " scopes=read\n"
	if o.Console {
		classifierClients += "console:" + tok["console"] + " scopes=read\n"
	}
	classifierAtAH := "classifier:" + tok["classifier"] + "\n"
	if o.History {
		classifierAtAH = "classifier:" + tok["classifier"] + " scopes=act,record\n"
	}
	if o.Alertmanager != nil {
		recv := o.Alertmanager.Receiver
		if recv == "" {
			recv = "alexis"
		}
		classifierClients += "alertmanager:" + tok["alertmanager"] + " scopes=classify:" + recv + "\n"
	}
	files := map[string]string{
		"classifier_tokens":  classifierClients,
		"alertmanager_token": tok["alertmanager"],
		"actionhandler_tokens": classifierAtAH + "oncall:" + tok["oncall"] + " scopes=adhoc,read,metrics\n" +
			"viewer:" + tok["viewer"] + " scopes=read\n",
		"poller_tokens": "oncall:" + tok["oncall"] + " scopes=read,metrics\n" +
			"viewer:" + tok["viewer"] + " scopes=read\n",
		// alexisctl's ALEXIS_TOKEN_FILE and the console login.
		"viewer_token": tok["viewer"] + "\n",
		// The console's token at the classifier (rules, explain).
		"console_classifier_token": tok["console"] + "\n",
		"poller_out_token":         tok["poller"] + "\n",
		"classifier_out_token":     tok["classifier"] + "\n",
		// The key the classifier signs forwarded actions with.
		"signing_key": randomToken() + "\n",
	}
	paths := map[string]string{}
	for name, content := range files {
		if paths[name], err = write(name, content); err != nil {
			return nil, err
		}
	}
	s.ViewerTokenFile = paths["viewer_token"]

	addr := map[string]string{}
	for _, svc := range Services {
		if addr[svc], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	s.ActionHandlerURL = "http://" + addr["actionhandler"]
	s.ClassifierURL = "http://" + addr["classifier"]
	ogBlock := fmt.Sprintf("tickets:\n  opsgenie:\n    api_url: %q\n    api_key_file: %q\n    timeout: 5s\n    retries: 1\n", s.OpsGenie.Host(), ogKey)
	var historyBlock, consoleBlock string
	if o.History {
		historyBlock = fmt.Sprintf("history:\n  url: %q\n  token_file: %q\n  flush_interval: 200ms\n",
			s.ActionHandlerURL+"/v1/decisions", paths["classifier_out_token"])
	}
	if o.Console {
		consoleBlock = fmt.Sprintf("console:\n  classifier_url: %q\n  classifier_token_file: %q\n",
			s.ClassifierURL, paths["console_classifier_token"])
	}

	configs := map[string]string{
		"actionhandler": fmt.Sprintf(`listen: %q
tokens_file: %q
signing_key_file: %q
development: %t
investigation_queue: %s
store:
  sqlite_path: %q
ssh:
  user: %q
  key_file: %q
  known_hosts_file: %q
  connect_timeout: 5s
  command_timeout: 60s
%s%s`, addr["actionhandler"], paths["actionhandler_tokens"], paths["signing_key"], o.Development, InvestigationQueue,
			filepath.Join(o.Dir, "actionhandler.db"),
			s.SSH.User, s.SSH.ClientKeyFile, s.SSH.KnownHostsFile, ogBlock, consoleBlock),
		"classifier": fmt.Sprintf(`listen: %q
tokens_file: %q
rules_dir: %q
action_handlers:
  linux: %q
action_handler_token_file: %q
signing_key_file: %q
default_investigation_queue: %s
%s%s`, addr["classifier"], paths["classifier_tokens"], o.RulesDir, s.ActionHandlerURL+"/v1/action",
			paths["classifier_out_token"], paths["signing_key"], InvestigationQueue, ogBlock, historyBlock),
		"poller": fmt.Sprintf(`listen: %q
tokens_file: %q
loop_interval: %s
state_file: %q
classifier:
  url: %q
  token_file: %q
  timeout: 10s
feeds:
  - name: incoming
    type: opsgenie
    query: %q
    lookback: 24h
    unique_key: tinyId
    opsgenie:
      api_url: %q
      api_key_file: %q
      timeout: 5s
      retries: 1
`, addr["poller"], paths["poller_tokens"], o.LoopInterval, filepath.Join(o.Dir, "poller-state.json"),
			s.ClassifierURL+"/v1/classifier", paths["poller_out_token"], FeedQuery, s.OpsGenie.Host(), ogKey),
	}
	for _, svc := range Services {
		cfg := filepath.Join(o.Dir, svc+".yaml")
		if err := os.WriteFile(cfg, []byte(configs[svc]+o.Config[svc]), 0o600); err != nil {
			return nil, err
		}
		p, err := startProc(svc, filepath.Join(o.BinDir, svc), []string{"-config", cfg},
			filepath.Join(o.LogDir, svc+".log"), o.Mirror)
		if err != nil {
			return nil, err
		}
		s.Procs[svc] = p
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = waitPing(wctx, p, "http://"+addr[svc])
		cancel()
		if err != nil {
			return nil, err
		}
	}
	if o.Alertmanager != nil {
		if err := s.startAlertmanager(ctx, *o.Alertmanager, paths["alertmanager_token"]); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// CreateAlert puts an open alert into the local OpsGenie, in the team the
// poller's query watches, and returns its id.
func (s *Stack) CreateAlert(message, description, host string, tags ...string) opsgenietest.Alert {
	return s.OpsGenie.CreateAlert(opsgenietest.AlertSpec{
		Message:     message,
		Description: description,
		Tags:        tags,
		Details:     map[string]string{"host": host},
		Entity:      host,
		Teams:       []string{IncomingTeam},
	})
}

// Close stops everything in reverse order.
func (s *Stack) Close() {
	if s.Alertmanager != nil {
		s.Alertmanager.Proc.Stop(10 * time.Second)
	}
	for i := len(Services) - 1; i >= 0; i-- {
		if p := s.Procs[Services[i]]; p != nil {
			p.Stop(10 * time.Second)
		}
	}
	if s.SSH != nil {
		s.SSH.Close()
	}
	if s.OpsGenie != nil {
		s.OpsGenie.Close()
	}
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
