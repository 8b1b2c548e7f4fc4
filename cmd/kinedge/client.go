package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/fragment/mkv"
)

// apiClient calls the appliance's plain HTTP API, as a script would.
type apiClient struct {
	base       string
	user, pass string
	// creds says where the credentials came from, or where the client
	// looked for them: the hint of a 401.
	creds string
	hc    *http.Client
}

// clientFlags are the connection flags shared by fragments and replay.
type clientFlags struct {
	url, user, pass, dataDir, caFile string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", envOr("KINEDGE_URL", "http://127.0.0.1:8080"), "appliance `URL` (env KINEDGE_URL)")
	fs.StringVar(&c.user, "user", os.Getenv("KINEDGE_ACCESS_KEY"), "access key (env KINEDGE_ACCESS_KEY; default: from the data dir)")
	fs.StringVar(&c.pass, "pass", os.Getenv("KINEDGE_SECRET_KEY"), "secret key (env KINEDGE_SECRET_KEY; default: from the data dir)")
	fs.StringVar(&c.dataDir, "data-dir", envOr("KINEDGE_DATA_DIR", "./data"), "data `dir` whose generated credentials to use when none are given")
	fs.StringVar(&c.caFile, "cacert", os.Getenv("KINEDGE_CA_FILE"), "PEM `file` to trust for an https --url, besides the system's CAs (env KINEDGE_CA_FILE; default: the data dir's tls-cert.pem if it exists)")
}

// httpClient trusts, for an https URL, the system's CAs and --cacert (or
// the data dir's generated certificate).
func (c *clientFlags) httpClient() (*http.Client, error) {
	if !strings.HasPrefix(c.url, "https://") {
		return &http.Client{}, nil
	}
	file := c.caFile
	if file == "" {
		file = filepath.Join(c.dataDir, tlsCertFile)
		if _, err := os.Stat(file); err != nil {
			return &http.Client{}, nil
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--cacert: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--cacert: %s holds no PEM certificate", file)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (c *clientFlags) client() (*apiClient, error) {
	user, pass := c.user, c.pass
	creds := "the credentials of --user/--pass (or KINEDGE_ACCESS_KEY/KINEDGE_SECRET_KEY)"
	if user == "" || pass == "" {
		file := filepath.Join(c.dataDir, credentialsFile)
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		b, err := os.ReadFile(file)
		var saved savedCredentials
		switch {
		case err != nil:
			creds = fmt.Sprintf("no credentials: --user/--pass and KINEDGE_ACCESS_KEY/KINEDGE_SECRET_KEY are not set, and %s could not be read (%v); "+
				"give the admin access key and secret key, or --data-dir (KINEDGE_DATA_DIR) for the appliance's data dir", file, errors.Unwrap(err))
		case yaml.Unmarshal(b, &saved) != nil:
			creds = fmt.Sprintf("no credentials: %s is not a credentials file", file)
		default:
			if user == "" {
				user = saved.AccessKey
			}
			if pass == "" {
				pass = saved.SecretKey
			}
			creds = "the admin credentials of " + file
		}
	}
	if _, err := url.Parse(c.url); err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	return &apiClient{base: strings.TrimRight(c.url, "/"), user: user, pass: pass, creds: creds, hc: hc}, nil
}

func (c *apiClient) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct{ Message string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("%s: %s (sent %s)", resp.Status, e.Message, c.creds)
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, e.Message)
	}
	return resp, nil
}

// fragments lists every fragment whose start lies in [start, end].
func (c *apiClient) fragments(ctx context.Context, stream string, start, end time.Time) ([]videoapi.FragmentJSON, error) {
	var all []videoapi.FragmentJSON
	next := ""
	for {
		q := url.Values{"start": {start.UTC().Format(time.RFC3339Nano)}, "end": {end.UTC().Format(time.RFC3339Nano)}}
		if next != "" {
			q.Set("next", next)
		}
		resp, err := c.get(ctx, "/v1/streams/"+url.PathEscape(stream)+"/fragments", q)
		if err != nil {
			return nil, err
		}
		var page struct {
			Fragments []videoapi.FragmentJSON
			Next      string
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("fragments: %w", err)
		}
		all = append(all, page.Fragments...)
		if page.Next == "" {
			return all, nil
		}
		next = page.Next
	}
}

// parseWhen accepts RFC 3339, "now", or a negative duration relative to
// now ("-5m").
func parseWhen(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "" || s == "now":
		return now, nil
	case strings.HasPrefix(s, "-"):
		d, err := time.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %w", s, err)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not RFC 3339, now, or -DURATION", s)
	}
	return t, nil
}

// parseRange parses the --start and --end flags.
func parseRange(startS, endS string, now time.Time) (start, end time.Time, err error) {
	if start, err = parseWhen(startS, now); err != nil {
		return start, end, fmt.Errorf("--start: %w", err)
	}
	if end, err = parseWhen(endS, now); err != nil {
		return start, end, fmt.Errorf("--end: %w", err)
	}
	if end.Before(start) {
		return start, end, fmt.Errorf("--end %s is before --start %s", endS, startS)
	}
	return start, end, nil
}

func runFragments(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fragments", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	stream := fs.String("stream", "", "video stream `name` (required)")
	startS := fs.String("start", "-1h", "range start: RFC 3339, now, or -DURATION")
	endS := fs.String("end", "now", "range end: RFC 3339, now, or -DURATION")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stream == "" {
		return errors.New("fragments: --stream is required")
	}
	start, end, err := parseRange(*startS, *endS, time.Now())
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	frags, err := c.fragments(ctx, *stream, start, end)
	if err != nil {
		return fmt.Errorf("fragments: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(frags)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FRAGMENT\tSERVER TIME\tPRODUCER TIME\tDURATION\tSIZE\tFRAMES\tCODECS")
	for _, f := range frags {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%d\t%s\n", f.FragmentNumber,
			f.ServerTimestamp.Format("2006-01-02T15:04:05.000Z07:00"), f.ProducerTimestamp.Format("2006-01-02T15:04:05.000Z07:00"),
			time.Duration(f.FragmentLengthInMilliseconds)*time.Millisecond, f.FragmentSizeInBytes, f.Frames, strings.Join(f.Codecs, ","))
	}
	fmt.Fprintf(tw, "%d fragments\n", len(frags))
	return tw.Flush()
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	stream := fs.String("stream", "", "video stream `name` (required)")
	startS := fs.String("start", "", "range start: RFC 3339, now, or -DURATION (required)")
	endS := fs.String("end", "now", "range end: RFC 3339, now, or -DURATION")
	out := fs.String("o", "", "output `file` (.mkv or .mp4); - for stdout (required). Where the codecs change (a camera restarted with\nanother codec) the file ends and the rest goes to FILE.2.mkv and so on")
	format := fs.String("format", "", "mkv or mp4 (default: from the -o extension, else mkv)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stream == "" || *startS == "" || *out == "" {
		return errors.New("replay: --stream, --start and -o are required")
	}
	start, end, err := parseRange(*startS, *endS, time.Now())
	if err != nil {
		return err
	}
	if *format == "" {
		*format = "mkv"
		if strings.EqualFold(filepath.Ext(*out), ".mp4") {
			*format = "mp4"
		}
	}
	if *format != "mkv" && *format != "mp4" {
		return fmt.Errorf("replay: --format %q is not mkv or mp4", *format)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	// A range whose codecs change (a camera restarted with H.265) comes
	// as one file per run of the same codecs: the appliance ends a file
	// before the change and names where the next begins.
	name := *out
	for part := 1; ; part++ {
		next, codecs, err := replayFile(ctx, c, *stream, start, end, *format, name, *quiet, stderr, stdout)
		if err != nil || next.IsZero() {
			return err
		}
		if *out == "-" {
			fmt.Fprintf(stderr, "replay: the codecs change to %s at %s: the output ends there; replay the rest with --start %s\n",
				codecs, next.Format(time.RFC3339Nano), next.Format(time.RFC3339Nano))
			return nil
		}
		if part == maxReplayParts {
			return fmt.Errorf("replay: the codecs change more than %d times in the range; the rest begins at %s", maxReplayParts, next.Format(time.RFC3339Nano))
		}
		ext := filepath.Ext(*out)
		name = fmt.Sprintf("%s.%d%s", strings.TrimSuffix(*out, ext), part+1, ext)
		fmt.Fprintf(stderr, "the codecs change to %s at %s: the rest goes to %s\n", codecs, next.Format(time.RFC3339Nano), name)
		start = next
	}
}

// maxReplayParts bounds the files one replay writes.
const maxReplayParts = 100

// replayFile downloads one media file of the range to out ("-" for
// stdout). When the appliance ended the file early because the codecs
// change, next is where the rest begins and codecs what it holds.
func replayFile(ctx context.Context, c *apiClient, stream string, start, end time.Time, format, out string, quiet bool, stderr, stdout io.Writer) (next time.Time, codecs string, err error) {
	resp, err := c.get(ctx, "/v1/streams/"+url.PathEscape(stream)+"/media", url.Values{
		"start":  {start.UTC().Format(time.RFC3339Nano)},
		"end":    {end.UTC().Format(time.RFC3339Nano)},
		"format": {format},
	})
	if err != nil {
		return next, "", fmt.Errorf("replay: %w", err)
	}
	defer resp.Body.Close()
	if v := resp.Header.Get(videoapi.HeaderNextStart); v != "" {
		if next, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return next, "", fmt.Errorf("replay: %s %q: %w", videoapi.HeaderNextStart, v, err)
		}
		if !next.After(start) {
			return time.Time{}, "", fmt.Errorf("replay: %s %s does not advance past %s", videoapi.HeaderNextStart, v, start.Format(time.RFC3339Nano))
		}
		_, codecs, _ = strings.Cut(resp.Header.Get(videoapi.HeaderTruncated), "codecs=")
	}

	var w io.Writer = stdout
	var f *os.File
	if out != "-" {
		f, err = os.Create(out)
		if err != nil {
			return next, "", fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		w = f
	}
	var body io.Reader = resp.Body
	finish := func() {}
	if !quiet && out != "-" && isTerminal(stderr) {
		// The total is the sealed size of the range's fragments: within a
		// fraction of a percent of the MKV that comes out.
		total := int64(-1)
		if frags, err := c.fragments(ctx, stream, start.Add(-30*time.Second), end); err == nil {
			total = 0
			for _, fr := range frags {
				total += fr.FragmentSizeInBytes
			}
		}
		bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription(stream), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
		body = io.TeeReader(resp.Body, bar)
		defer bar.Exit() // on errors; Finish below on success
		finish = func() { bar.Finish() }
	}
	n, err := io.Copy(w, body)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("replay: after %d bytes: %w", n, err)
	}
	finish()
	if f != nil {
		if format == "mkv" {
			// The appliance streamed the Cues last: point the SeekHead at
			// them so players seek. A file from an appliance without Cues
			// plays as it is.
			if err := mkv.FinishFile(f, n); err != nil && !errors.Is(err, mkv.ErrNotFinishable) {
				return time.Time{}, "", fmt.Errorf("replay: %w", err)
			}
		}
		if err := f.Close(); err != nil {
			return time.Time{}, "", fmt.Errorf("replay: %w", err)
		}
		fmt.Fprintf(stderr, "wrote %s (%d bytes)\n", out, n)
	}
	return next, codecs, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
