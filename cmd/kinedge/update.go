package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kinedge/kinedge/firmware/atomicfile"
	"github.com/kinedge/kinedge/firmware/update"
)

const updateUsage = `usage:
  kinedge update [flags] BUNDLE.tar     verify and install a signed bundle, roll back if unhealthy
  kinedge update keygen [-o FILE]       make a signing key pair (private key file 0600, public key printed)
  kinedge update bundle --key FILE --binary FILE --version V [--arch A] -o BUNDLE.tar
  kinedge update sign --key FILE [-o OUT.tar] BUNDLE.tar   (re-)sign a bundle
  kinedge update rollback [--target FILE] [--restart CMD]  put <target>.previous back by hand and restart

Run "kinedge update <command> -h" for the flags.
`

// packagedConfig is the config file the .deb installs and its unit uses.
const packagedConfig = "/etc/kinedge/kinedge.yaml"

// runUpdate is `kinedge update`: the operator's keygen/bundle/sign, and
// the appliance's install.
func runUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "keygen":
			return runUpdateKeygen(args[1:], stdout, stderr)
		case "bundle":
			return runUpdateBundle(args[1:], stdout, stderr)
		case "sign":
			return runUpdateSign(args[1:], stdout, stderr)
		case "rollback":
			return runUpdateRollback(ctx, args[1:], stdout, stderr)
		case "help", "-h", "--help":
			fmt.Fprint(stdout, updateUsage)
			return nil
		}
	}
	return runUpdateInstall(ctx, args, stdout, stderr)
}

func runUpdateKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("update keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "kinedge-update.key", "private key `file` to create (0600; never overwritten)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	priv, pub, err := update.GenerateKey()
	if err != nil {
		return err
	}
	created, err := atomicfile.Create(*out, priv, 0o600)
	if err != nil {
		return fmt.Errorf("update keygen: %w", err)
	}
	if !created {
		return fmt.Errorf("update keygen: %s exists; not overwriting a key", *out)
	}
	fmt.Fprintf(stdout, "private key: %s (keep it off the appliance)\npublic key, for the appliance's config:\n  update:\n    public_key: %q\n", *out, pub)
	return nil
}

func readPrivateKey(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("--key is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func runUpdateBundle(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("update bundle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "private key `file` (kinedge update keygen)")
	binPath := fs.String("binary", "", "the kinedge `binary` to ship")
	ver := fs.String("version", "", "its `version` (what kinedge version prints)")
	arch := fs.String("arch", "", "its `arch`itecture: amd64, arm64, armv7, armv6 (default: read from the binary)")
	out := fs.String("o", "", "bundle `file` to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binPath == "" || *ver == "" || *out == "" {
		return errors.New("update bundle: --binary, --version and -o are required")
	}
	kb, err := readPrivateKey(*keyPath)
	if err != nil {
		return fmt.Errorf("update bundle: %w", err)
	}
	key, err := update.ParsePrivateKey(kb)
	if err != nil {
		return err
	}
	if *arch == "" {
		if *arch, err = update.ArchOf(*binPath); err != nil {
			return fmt.Errorf("update bundle: %w (give --arch)", err)
		}
	}
	bin, err := os.ReadFile(*binPath)
	if err != nil {
		return fmt.Errorf("update bundle: %w", err)
	}
	var buf bytes.Buffer
	m := update.NewManifest(bin, *ver, *arch, time.Now())
	if err := update.Write(&buf, bin, m, key); err != nil {
		return err
	}
	if err := atomicfile.Write(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("update bundle: %w", err)
	}
	fmt.Fprintf(stdout, "%s: kinedge %s for %s, sha256 %s\n", *out, m.Version, m.Arch, m.SHA256)
	return nil
}

func runUpdateSign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("update sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "private key `file` (kinedge update keygen)")
	out := fs.String("o", "", "signed bundle `file` (default: replace BUNDLE.tar)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("update sign: give one bundle")
	}
	in := fs.Arg(0)
	if *out == "" {
		*out = in
	}
	kb, err := readPrivateKey(*keyPath)
	if err != nil {
		return fmt.Errorf("update sign: %w", err)
	}
	key, err := update.ParsePrivateKey(kb)
	if err != nil {
		return err
	}
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("update sign: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if err := update.Sign(&buf, f, key, 0); err != nil {
		return fmt.Errorf("update sign: %s: %w", in, err)
	}
	if err := atomicfile.Write(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("update sign: %w", err)
	}
	fmt.Fprintf(stdout, "%s: signed\n", *out)
	return nil
}

// runUpdateRollback puts the previous binary back by hand (an update
// interrupted before its own rollback, or a version regretted later).
func runUpdateRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("update rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "installed `binary` (default: this one)")
	restartCmd := fs.String("restart", "systemctl restart kinedge", "`command` that restarts the service")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, err := updateTarget(*target)
	if err != nil {
		return err
	}
	if err := update.Rollback(path); err != nil {
		return err
	}
	if err := restartFunc(*restartCmd)(ctx); err != nil {
		return fmt.Errorf("update rollback: %s is back, but: %w", path, err)
	}
	fmt.Fprintf(stdout, "%s: previous binary restored and service restarted\n", path)
	return nil
}

// updateTarget is the binary to replace: target, or this executable.
func updateTarget(target string) (string, error) {
	if target != "" {
		return target, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("update: %w (give --target)", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", fmt.Errorf("update: %w", err)
	}
	return exe, nil
}

// restartFunc runs the restart command (systemctl restart kinedge).
func restartFunc(command string) func(ctx context.Context) error {
	argv := strings.Fields(command)
	return func(ctx context.Context) error {
		if len(argv) == 0 {
			return errors.New("no restart command")
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", command, err, bytes.TrimSpace(out))
		}
		return nil
	}
}

// installer is one `kinedge update BUNDLE`.
type installer struct {
	bundle string
	target string // the installed binary
	keys   string // update.public_key
	url    string // the service's base URL (http://127.0.0.1:8080)
	// tlsClient, when set, asks url over HTTPS trusting the appliance's
	// certificate (plain HTTP off).
	tlsClient *http.Client
	version   string // the running version, which the bundle's must differ from
	timeout   time.Duration
	// restart restarts the service: systemctl restart kinedge on a board.
	restart func(ctx context.Context) error
	log     *slog.Logger
}

func runUpdateInstall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("update", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, updateUsage+"\nflags of kinedge update BUNDLE.tar:\n"); fs.PrintDefaults() }
	configFile := fs.String("config", "", "YAML config `file` (update.public_key, http); default $KINEDGE_CONFIG, else "+packagedConfig+" if it exists")
	target := fs.String("target", "", "installed `binary` to replace (default: this one)")
	baseURL := fs.String("url", "", "the service's `URL` for /healthz (default: from the config's http address)")
	timeout := fs.Duration("timeout", time.Minute, "how long the new version has to become healthy before it is rolled back")
	restartCmd := fs.String("restart", "systemctl restart kinedge", "`command` that restarts the service")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("update: give one bundle")
	}
	cfg := defaultConfig()
	if *configFile == "" {
		*configFile = os.Getenv("KINEDGE_CONFIG")
	}
	if *configFile == "" {
		// The packaged service's config (firmware/systemd/kinedge.service).
		if _, err := os.Stat(packagedConfig); err == nil {
			*configFile = packagedConfig
		}
	}
	if *configFile != "" {
		if err := loadConfigFile(&cfg, *configFile); err != nil {
			return err
		}
	}
	if err := applyEnv(&cfg, os.Getenv); err != nil {
		return err
	}
	in := installer{bundle: fs.Arg(0), target: *target, keys: cfg.Update.PublicKey, url: *baseURL,
		version: version, timeout: *timeout, log: newLogger(cfg.Log, stderr)}
	var err error
	if in.target, err = updateTarget(in.target); err != nil {
		return err
	}
	if in.url == "" && cfg.HTTP == "" && cfg.TLS.on() {
		// Plain HTTP is off: ask over HTTPS, trusting the certificate.
		in.url = "https://" + loopbackFor(cfg.TLS.HTTPS)
		in.tlsClient = pinnedHTTPClient(&cfg)
	} else if in.url == "" {
		in.url = "http://" + loopbackFor(cfg.HTTP)
	} else if strings.HasPrefix(in.url, "https://") && cfg.TLS.on() {
		in.tlsClient = pinnedHTTPClient(&cfg)
	}
	if strings.TrimSpace(*restartCmd) == "" {
		return errors.New("update: --restart is empty")
	}
	in.restart = restartFunc(*restartCmd)
	v, err := in.run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kinedge %s installed at %s and healthy (previous binary kept as %s.previous)\n", v, in.target, in.target)
	return nil
}

// loopbackFor turns a listen address into one to reach it from the box:
// an unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") is 127.0.0.1.
func loopbackFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// run verifies the bundle (nothing is touched when it fails), installs it
// and returns its version.
func (in *installer) run(ctx context.Context) (string, error) {
	keys, err := update.ParsePublicKeys(in.keys)
	if err != nil {
		return "", err
	}
	f, err := os.Open(in.bundle)
	if err != nil {
		return "", fmt.Errorf("update: %w", err)
	}
	b, err := update.Read(f, 0)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("update: %s: %w", in.bundle, err)
	}
	if err := b.Verify(update.Target{Keys: keys, Arch: update.Arch(), Version: in.version}); err != nil {
		return "", fmt.Errorf("update: %s refused: %w", in.bundle, err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if in.tlsClient != nil {
		client = in.tlsClient
		client.Timeout = 5 * time.Second
	}
	inst := &update.Installer{Path: in.target, Restart: in.restart, Timeout: in.timeout, Log: in.log,
		Version: func(ctx context.Context) (string, error) { return healthVersion(ctx, client, in.url) }}
	if err := inst.Apply(ctx, b); err != nil {
		return "", err
	}
	return b.Manifest.Version, nil
}

// healthVersion is the version in GET /healthz when it answers 200.
func healthVersion(ctx context.Context, c *http.Client, baseURL string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(baseURL, "/")+"/healthz", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var h struct {
		Version string `json:"version"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/healthz: %s", resp.Status)
	}
	if err != nil {
		return "", fmt.Errorf("/healthz: %w", err)
	}
	return h.Version, nil
}
