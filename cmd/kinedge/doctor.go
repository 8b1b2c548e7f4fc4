package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinedge/kinedge/firmware/clock"
	"github.com/kinedge/kinedge/firmware/tlscert"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/ingest/sources"
)

const doctorUsage = `usage: kinedge doctor [--config FILE] [--data-dir DIR] [--url http://host:8080]

Checks what the appliance needs and prints one line per check, OK, WARN or
FAIL, with what to fix: the config loads and validates (as serve loads it),
the data directory and master.key permissions, free disk space against the
storage budget, the system clock, the TLS certificate (expiry, SHA-256
fingerprint), a running appliance's /healthz (over HTTPS when plain HTTP
is off), each
configured camera's RTSP reachability and the archive's S3 bucket.
Exits 1 when a check FAILs.

`

// doctorTimeout bounds each network check.
const doctorTimeout = 5 * time.Second

// Check levels, ordered.
const (
	checkOK   = "OK"
	checkWarn = "WARN"
	checkFail = "FAIL"
)

// checkResult is one line of kinedge doctor.
type checkResult struct {
	Level string
	// Name is what was checked; Msg says what was found and what to fix.
	Name, Msg string
}

func (r checkResult) String() string { return fmt.Sprintf("%-4s %s: %s", r.Level, r.Name, r.Msg) }

// doctor is one run of the checks.
type doctor struct {
	// ConfigArgs are serve's config flags (--config, --data-dir).
	ConfigArgs []string
	// URL is the running appliance's base URL; empty: from the config's
	// http address. URLGiven makes an appliance that does not answer a
	// FAIL instead of a WARN.
	URL      string
	URLGiven bool
	// Timeout bounds each network check; zero: doctorTimeout.
	Timeout time.Duration
	// Clock is asked for the clock's state; zero: the kernel's.
	Clock clock.Watcher
}

// run runs every check in order; checks that need the config are skipped
// when it does not load.
func (d *doctor) run(ctx context.Context) []checkResult {
	if d.Timeout <= 0 {
		d.Timeout = doctorTimeout
	}
	var out []checkResult
	cfg, _, err := loadConfig(d.ConfigArgs, io.Discard)
	if err != nil {
		out = append(out, checkResult{checkFail, "config", fmt.Sprintf("%v: fix the config file or environment (kinedge serve --print-config shows the effective config)", err)})
		out = append(out, d.checkClock())
		return out
	}
	where := "defaults and environment"
	if f := configFileArg(d.ConfigArgs); f != "" {
		where = f
	}
	out = append(out, checkResult{checkOK, "config", where + " loads and validates"})
	out = append(out, checkDataDir(cfg.DataDir)...)
	if cfg.MasterKey == "" {
		out = append(out, checkMasterKey(masterKeyPath(&cfg)))
	} else {
		out = append(out, checkResult{checkOK, "master key", "set by master_key in the config"})
	}
	out = append(out, checkDisk(&cfg))
	out = append(out, d.checkClock())
	out = append(out, checkTLS(&cfg, time.Now()))
	u, client := d.URL, http.DefaultClient
	if u == "" && cfg.HTTP == "" {
		// Plain HTTP is off: ask over HTTPS, trusting the certificate.
		u = "https://" + strings.TrimPrefix(localURL(cfg.TLS.HTTPS), "http://")
		client = pinnedHTTPClient(&cfg)
	} else if u == "" {
		u = localURL(cfg.HTTP)
	} else if strings.HasPrefix(u, "https://") && cfg.TLS.on() {
		client = pinnedHTTPClient(&cfg)
	}
	out = append(out, d.checkAppliance(ctx, u, client))
	for _, p := range cfg.Streams {
		out = append(out, d.checkCamera(ctx, p))
	}
	if cfg.Archive.Bucket != "" {
		out = append(out, d.checkBucket(ctx, &cfg))
	}
	return out
}

func configFileArg(args []string) string {
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return os.Getenv("KINEDGE_CONFIG")
}

// localURL is the URL of the appliance listening on addr, from this host.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// checkDataDir checks the data directory exists, is private (0700) and
// writable.
func checkDataDir(dir string) []checkResult {
	const name = "data dir"
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []checkResult{{checkWarn, name, fmt.Sprintf("%s does not exist: kinedge serve creates it (0700) at its first start; create it yourself if serve runs as another user (install -d -m 0700 -o kinedge %s)", dir, dir)}}
	}
	if err != nil {
		return []checkResult{{checkFail, name, fmt.Sprintf("%v: make it readable by the user running kinedge", err)}}
	}
	if !fi.IsDir() {
		return []checkResult{{checkFail, name, fmt.Sprintf("%s is not a directory: point data_dir (--data-dir, KINEDGE_DATA_DIR) at a directory", dir)}}
	}
	var out []checkResult
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		out = append(out, checkResult{checkWarn, name, fmt.Sprintf("%s has mode %04o: others can read the recordings' database: chmod 700 %s", dir, perm, dir)})
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		out = append(out, checkResult{checkFail, name, fmt.Sprintf("%s is not writable (%v): chown it to the user running kinedge, or free the filesystem (read-only?)", dir, err)})
		return out
	}
	f.Close()
	os.Remove(f.Name())
	if len(out) == 0 {
		out = append(out, checkResult{checkOK, name, dir + " exists, is writable, mode 0700"})
	}
	return out
}

// checkMasterKey checks master.key is readable by its owner only.
func checkMasterKey(path string) checkResult {
	const name = "master key"
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return checkResult{checkOK, name, path + " does not exist yet: kinedge serve creates it (0600) at its first start; back it up then, the recordings cannot be read without it"}
	}
	if err != nil {
		return checkResult{checkFail, name, fmt.Sprintf("%v: make it readable by the user running kinedge", err)}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		who := "its group"
		if perm&0o007 != 0 {
			who = "every user"
		}
		return checkResult{checkFail, name, fmt.Sprintf("%s has mode %04o, readable by %s: anyone who reads it can read the recordings: chmod 600 %s", path, perm, who, path)}
	}
	if _, err := os.Stat(seal.PendingMasterPath(path)); err == nil {
		return checkResult{checkWarn, name, path + " is private (0600), but a master key rotation was interrupted (" + seal.PendingMasterPath(path) +
			" exists): stop kinedge and run kinedge keys rotate-master to finish it"}
	}
	return checkResult{checkOK, name, path + " is private (0600)"}
}

// tlsExpiryWarning is how close to its expiry a certificate is a WARN.
const tlsExpiryWarning = 30 * 24 * time.Hour

// checkTLS reports the TLS certificate: its file, expiry and SHA-256
// fingerprint; WARN within 30 days of its expiry, FAIL when it is expired,
// does not load, or its key is readable by others.
func checkTLS(cfg *Config, now time.Time) checkResult {
	const name = "tls"
	if !cfg.TLS.on() {
		return checkResult{checkOK, name, "off: plain HTTP and RTSP only (tls.self_signed: true or tls.cert_file/key_file turn on HTTPS and RTSPS)"}
	}
	certFile, keyFile := tlsFiles(cfg)
	if cfg.TLS.SelfSigned {
		if _, err := os.Stat(certFile); errors.Is(err, fs.ErrNotExist) {
			return checkResult{checkOK, name, certFile + " does not exist yet: kinedge serve generates it (self-signed) at its next start and prints its fingerprint"}
		}
	}
	c, err := tlscert.Load(certFile, keyFile)
	if err != nil {
		return checkResult{checkFail, name, fmt.Sprintf("%v: kinedge serve cannot start TLS; fix the files (or, self-signed, delete both to generate new ones)", err)}
	}
	if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return checkResult{checkFail, name, fmt.Sprintf("%s has mode %04o: anyone who reads it can impersonate the appliance: chmod 600 %s", keyFile, fi.Mode().Perm(), keyFile)}
	}
	what := fmt.Sprintf("%s expires %s; SHA-256 fingerprint %s; public key pin %s", certFile, c.Leaf.NotAfter.UTC().Format(time.DateOnly), c.Fingerprint(), c.PublicKeyPin())
	fix := "replace the certificate"
	if cfg.TLS.SelfSigned {
		fix = "delete " + certFile + " and " + keyFile + " and restart to generate a new one, then pin it again"
	}
	switch left := c.Leaf.NotAfter.Sub(now); {
	case left <= 0:
		return checkResult{checkFail, name, what + ": EXPIRED, clients refuse it: " + fix}
	case left < tlsExpiryWarning:
		return checkResult{checkWarn, name, fmt.Sprintf("%s: expires in %d days: %s", what, int(left.Hours()/24), fix)}
	}
	return checkResult{checkOK, name, what}
}

// pinnedHTTPClient trusts the appliance's certificate file (and nothing
// else), to reach it over HTTPS from the box.
func pinnedHTTPClient(cfg *Config) *http.Client {
	certFile, _ := tlsFiles(cfg)
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(certFile); err == nil {
		pool.AppendCertsFromPEM(b)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
}

// checkDisk compares the filesystem's free space with the storage budget.
func checkDisk(cfg *Config) checkResult {
	const name = "disk"
	dir := cfg.DataDir
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(dir, &sfs); err != nil {
		return checkResult{checkWarn, name, fmt.Sprintf("cannot read the free space of %s: %v", dir, err)}
	}
	total := int64(sfs.Blocks) * int64(sfs.Bsize)
	free := int64(sfs.Bavail) * int64(sfs.Bsize)
	minFree := max(int64(cfg.Storage.MinFreeBytes), int64(cfg.Storage.MinFreePercent/100*float64(total)))
	used := dirSize(filepath.Join(cfg.DataDir, "db"))
	room := used + free - minFree // what the database may grow to
	desc := fmt.Sprintf("%s free of %s on %s, the database holds %s, %s kept free", sizeWords(free), sizeWords(total), dir, sizeWords(used), sizeWords(minFree))
	switch {
	case room <= used:
		return checkResult{checkFail, name, desc + ": no room to record: free space on " + dir + " or lower storage.min_free_bytes / storage.min_free_percent"}
	case cfg.Storage.MaxBytes > 0 && int64(cfg.Storage.MaxBytes) > room:
		return checkResult{checkWarn, name, fmt.Sprintf("%s: storage.max_bytes %s is more than the disk can give; the budget is %s: lower storage.max_bytes or free space", desc, sizeWords(int64(cfg.Storage.MaxBytes)), sizeWords(room))}
	}
	return checkResult{checkOK, name, desc}
}

// sizeWords writes n bytes for people: 1.5 GB, 300 MB, 12 kB.
func sizeWords(n int64) string {
	const k = 1000
	switch {
	case n >= k*k*k:
		return fmt.Sprintf("%.1f GB", float64(n)/(k*k*k))
	case n >= k*k:
		return fmt.Sprintf("%.1f MB", float64(n)/(k*k))
	case n >= k:
		return fmt.Sprintf("%.1f kB", float64(n)/k)
	}
	return fmt.Sprintf("%d bytes", n)
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// checkClock asks the kernel whether the clock is synchronised and
// whether it reads a plausible time.
func (d *doctor) checkClock() checkResult {
	const name = "clock"
	r := d.Clock.Check()
	now := r.Wall.UTC().Format(time.RFC3339)
	switch {
	case !r.Plausible():
		return checkResult{checkFail, name, "the system clock reads " + now + ", a time before any real one: recording times would be wrong: enable a time source (timedatectl set-ntp true) or set the clock (date -s)"}
	case r.Sync == clock.Unsynced:
		return checkResult{checkWarn, name, "the system clock (" + now + ") is not synchronized: enable NTP (timedatectl set-ntp true) and give the board a network route to a time server"}
	case r.Sync == clock.SyncUnknown:
		return checkResult{checkWarn, name, fmt.Sprintf("cannot tell whether the system clock (%s) is synchronized: %v", now, r.SyncErr)}
	}
	return checkResult{checkOK, name, fmt.Sprintf("synchronized (estimated error %s), reads %s", r.MaxError, now)}
}

// checkAppliance reads a running appliance's /healthz.
func (d *doctor) checkAppliance(ctx context.Context, base string, client *http.Client) checkResult {
	const name = "appliance"
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	u := strings.TrimRight(base, "/") + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return checkResult{checkFail, name, fmt.Sprintf("--url %q: %v", base, err)}
	}
	resp, err := client.Do(req)
	if err != nil {
		level := checkWarn
		if d.URLGiven {
			level = checkFail
		}
		return checkResult{level, name, fmt.Sprintf("no appliance answers at %s (%v): is kinedge serve running? (systemctl status kinedge; journalctl -u kinedge)", base, err)}
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return checkResult{checkFail, name, fmt.Sprintf("%s answers %s but not with kinedge's health JSON (%v): is --url right?", u, resp.Status, err)}
	}
	reasons := strings.Join(h.Reasons, "; ")
	switch h.Status {
	case healthOK:
		return checkResult{checkOK, name, base + " is healthy"}
	case healthDegraded:
		return checkResult{checkWarn, name, base + " is degraded: " + reasons}
	}
	return checkResult{checkFail, name, fmt.Sprintf("%s is %s (%s): %s", base, h.Status, resp.Status, reasons)}
}

// checkCamera connects to a pulled camera and asks RTSP OPTIONS (no
// credentials sent; the URL is shown without its password).
func (d *doctor) checkCamera(ctx context.Context, p sources.Pull) checkResult {
	u, err := url.Parse(p.Source)
	if err != nil {
		return checkResult{checkFail, "camera " + p.Name, "the source URL does not parse: fix streams[].source"}
	}
	name := "camera " + p.Name + " (" + u.Redacted() + ")"
	port := u.Port()
	if port == "" {
		port = "554"
		if u.Scheme == "rtsps" {
			port = "322"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return checkResult{checkFail, name, fmt.Sprintf("cannot connect to %s (%v): is the camera on, its address and port right, a firewall in between?", addr, err)}
	}
	defer conn.Close()
	if u.Scheme == "rtsps" {
		return checkResult{checkOK, name, addr + " accepts connections (RTSPS: not asked further)"}
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	bare := *u
	bare.User = nil
	if _, err := fmt.Fprintf(conn, "OPTIONS %s RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: kinedge-doctor\r\n\r\n", bare.String()); err != nil {
		return checkResult{checkFail, name, fmt.Sprintf("%s: %v", addr, err)}
	}
	code, reason, err := readRTSPStatus(bufio.NewReaderSize(conn, 512))
	if err != nil {
		return checkResult{checkFail, name, fmt.Sprintf("%s accepts connections but does not answer RTSP OPTIONS (%v): is it the camera's RTSP port?", addr, err)}
	}
	if code == 401 || (code >= 200 && code < 300) {
		return checkResult{checkOK, name, fmt.Sprintf("answers RTSP (OPTIONS: %d %s)", code, reason)}
	}
	return checkResult{checkWarn, name, fmt.Sprintf("answers RTSP OPTIONS with %d %s: check the camera's path and settings", code, reason)}
}

// readRTSPStatus reads an RTSP response's status line ("RTSP/1.0 200
// OK") from a camera: untrusted bytes, at most one short line.
func readRTSPStatus(r *bufio.Reader) (int, string, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, "", errors.New("status line too long")
		}
		return 0, "", err
	}
	return parseRTSPStatus(string(line))
}

// parseRTSPStatus parses an RTSP status line.
func parseRTSPStatus(line string) (int, string, error) {
	line = strings.TrimRight(line, "\r\n")
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "RTSP/") {
		return 0, "", fmt.Errorf("not an RTSP status line: %q", truncate(line, 40))
	}
	codeS, reason, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeS)
	if err != nil || len(codeS) != 3 || code < 100 {
		return 0, "", fmt.Errorf("bad RTSP status code %q", truncate(codeS, 10))
	}
	return code, truncate(reason, 80), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// checkBucket asks the archive's S3 endpoint whether the bucket exists.
func (d *doctor) checkBucket(ctx context.Context, cfg *Config) checkResult {
	name := "archive bucket " + cfg.Archive.Bucket
	c, err := cfg.s3().Client()
	if err != nil {
		return checkResult{checkFail, name, fmt.Sprintf("%v: fix s3.endpoint", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	ok, err := c.BucketExists(ctx, cfg.Archive.Bucket)
	switch {
	case err != nil:
		return checkResult{checkFail, name, fmt.Sprintf("S3 endpoint %s does not answer HEAD bucket (%v): check s3.endpoint, the network and s3.access_key/s3.secret_key", cfg.S3.Endpoint, err)}
	case !ok:
		return checkResult{checkFail, name, fmt.Sprintf("no bucket %q at %s: create it or fix archive.bucket", cfg.Archive.Bucket, cfg.S3.Endpoint)}
	}
	return checkResult{checkOK, name, "exists at " + cfg.S3.Endpoint}
}

// runDoctor is "kinedge doctor".
func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fset.SetOutput(stderr)
	configFile := fset.String("config", "", "the appliance's YAML config `file` (default $KINEDGE_CONFIG)")
	dataDir := fset.String("data-dir", "", "the data `dir` (default from the config)")
	base := fset.String("url", "", "the running appliance's base `URL` (default from the config's http address)")
	fset.Usage = func() {
		fmt.Fprint(stderr, doctorUsage)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("doctor: unexpected arguments %q", fset.Args())
	}
	d := &doctor{URL: *base, URLGiven: *base != ""}
	if *configFile != "" {
		d.ConfigArgs = append(d.ConfigArgs, "--config", *configFile)
	}
	if *dataDir != "" {
		d.ConfigArgs = append(d.ConfigArgs, "--data-dir", *dataDir)
	}
	fails := 0
	for _, r := range d.run(ctx) {
		fmt.Fprintln(stdout, r)
		if r.Level == checkFail {
			fails++
		}
	}
	if fails > 0 {
		return fmt.Errorf("doctor: %d failed (FAIL lines above)", fails)
	}
	return nil
}
