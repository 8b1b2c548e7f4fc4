package main

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/video/kvs"
	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/firehose/archive"
	"github.com/kinedge/kinedge/firehose/uplink"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/putmedia"
	"github.com/kinedge/kinedge/ingest/rtsp"
	"github.com/kinedge/kinedge/ingest/sources"
)

// Config is the appliance's effective configuration. Every field has a YAML
// key (the yaml tag) and an environment variable: KINEDGE_ followed by the
// upper-cased key path with dots as underscores (fragment.target →
// KINEDGE_FRAGMENT_TARGET). Precedence: flags > environment > config file >
// defaults. A key that does (or does all of) nothing yet says so in a note
// tag, which --print-config prints: no knob pretends.
type Config struct {
	// DataDir holds the database, the master key and generated credentials.
	DataDir string `yaml:"data_dir"`
	// ApplianceID names this appliance in the fragment events (applianceId)
	// and in the archive's object keys (<prefix><appliance_id>/<stream>/…):
	// a replacement appliance keeps it to find its predecessor's archive.
	ApplianceID string `yaml:"appliance_id"`
	// HTTP is the listen address of the HTTP APIs and the web page.
	// Empty (in the config file) turns plain HTTP off, which TLS
	// (tls.https) must then serve.
	HTTP string `yaml:"http"`
	// RTSP is the listen address of the RTSP server (TCP). Empty (in the
	// config file) turns plain RTSP off, which TLS (tls.rtsps) must then
	// serve.
	RTSP string `yaml:"rtsp"`
	// RTSPUDPRTP and RTSPUDPRTCP are the UDP ports of RTSP's UDP transport;
	// empty disables UDP.
	RTSPUDPRTP  string `yaml:"rtsp_udp_rtp"`
	RTSPUDPRTCP string `yaml:"rtsp_udp_rtcp"`
	// WebRTCUDP is the UDP address of WebRTC ICE (every WHEP live viewer
	// and WHIP publisher): one port for all peer connections.
	// Empty (in the config file) turns WebRTC off. A loopback address offers loopback
	// candidates (tests, a viewer on the appliance itself).
	WebRTCUDP string `yaml:"webrtc_udp"`
	// WebRTCTCP, when set, is the TCP address of ICE-TCP: the fallback
	// for WHIP publishers and WHEP viewers whose UDP is blocked, one port
	// for all. Empty (the default): no ICE-TCP.
	WebRTCTCP string `yaml:"webrtc_tcp"`
	// WebRTCPublicIPs are IP addresses, comma-separated, that a NAT in
	// front of the appliance maps 1:1 to it: WebRTC's host candidates
	// carry them instead of the interfaces' addresses. Empty: none.
	WebRTCPublicIPs string `yaml:"webrtc_public_ips"`
	// WebRTCICEServers are STUN/TURN URLs, comma-separated, that WHIP
	// announces to publishers in Link headers (RFC 9725 section 4.6) for
	// their own candidates. Empty (the default): none; a LAN needs none.
	WebRTCICEServers string `yaml:"webrtc_ice_servers"`
	// MemoryLimit is a soft limit on the Go heap in MiB (GOMEMLIMIT): near
	// it the garbage collector works harder instead of growing the heap.
	// 0 leaves the runtime's default (GOMEMLIMIT from the environment, or
	// none). On a 1 GiB board, 256 is a good start.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
	// Profile sizes memory for the board: "pi" (1 to 2 GiB of RAM, SD
	// card), "default", or "auto" to choose pi on machines with at most
	// 2 GiB.
	Profile string `yaml:"profile"`
	// DebugAddr, when set, serves Go's pprof profiles there, without
	// credentials: keep it on loopback (127.0.0.1:6060).
	DebugAddr string `yaml:"debug_addr"`
	// HTTPBodyBudget bounds the memory that all AWS API request bodies
	// being read may hold together; a body that finds no room within a
	// second is refused with 503 ServiceUnavailableException, which the
	// SDKs retry.
	HTTPBodyBudget ByteSize `yaml:"http_body_budget"`

	// AccessKey and SecretKey are the admin credentials (SigV4, HTTP Basic).
	AccessKey string `yaml:"access_key" secret:"true"`
	SecretKey string `yaml:"secret_key" secret:"true"`
	// PublishUser and PublishPass are the default camera publish credentials.
	PublishUser string `yaml:"publish_user"`
	PublishPass string `yaml:"publish_pass" secret:"true"`
	// AnonymousPublish lets cameras publish without credentials.
	AnonymousPublish bool `yaml:"anonymous_publish"`
	// AnonymousRead opens the read-only HTTP endpoints (GET: streams, replay,
	// metrics) without credentials.
	AnonymousRead bool `yaml:"anonymous_read"`

	// MasterKey overrides <data_dir>/master.key (hex or base64, 32 bytes).
	MasterKey string `yaml:"master_key" secret:"true"`
	// MasterKeyFile is the master key file on separate media (a USB key,
	// a secrets mount) instead of <data_dir>/master.key; it must exist.
	MasterKeyFile string `yaml:"master_key_file"`
	// KeyRotation is how often per-stream data keys are rotated.
	KeyRotation time.Duration `yaml:"key_rotation"`

	// Region and AccountID appear in ARNs.
	Region    string `yaml:"region"`
	AccountID string `yaml:"account_id"`

	// Streams are cameras to pull at start (RTSP sources); POST
	// /v1/streams adds more at run time. Only the config file sets them.
	Streams []sources.Pull `yaml:"streams"`
	// Upstreams forward local streams to an upstream KVS endpoint with
	// PutMedia (edge-agent mode, dataplane/video/upstream). Only the
	// config file sets them.
	Upstreams []UpstreamForward `yaml:"upstreams"`

	Storage  StorageConfig  `yaml:"storage"`
	Video    VideoConfig    `yaml:"video"`
	Live     LiveConfig     `yaml:"live"`
	KVS      KVSConfig      `yaml:"kvs"`
	Kinesis  KinesisConfig  `yaml:"kinesis"`
	S3       S3Config       `yaml:"s3"`
	Firehose FirehoseConfig `yaml:"firehose"`
	Archive  ArchiveConfig  `yaml:"archive"`
	Fragment FragmentConfig `yaml:"fragment"`
	Timeouts TimeoutConfig  `yaml:"timeouts"`
	// AuthFailures brakes password guessing per source address on every
	// surface (HTTP Basic, the login form, SigV4, RTSP, WHIP).
	AuthFailures AuthFailuresConfig `yaml:"auth_failures"`
	Log          LogConfig          `yaml:"log"`
	Update       UpdateConfig       `yaml:"update"`
	TLS          TLSConfig          `yaml:"tls"`
}

// TLSConfig turns on HTTPS (HTTP/2 and HTTP/1.1: every route of the HTTP
// port) and RTSPS (push and live play) next to the plain listeners, with
// the operator's certificate or a self-signed one (docs/tls.md).
type TLSConfig struct {
	// SelfSigned turns TLS on with an ECDSA P-256 certificate generated at
	// the first start and kept in the data dir (tls-cert.pem, tls-key.pem
	// 0600); its SHA-256 fingerprint is printed at every start and by
	// kinedge doctor. Delete both files to get a new one.
	SelfSigned bool `yaml:"self_signed"`
	// CertFile and KeyFile are a PEM certificate (chain) and its key: both
	// set turn TLS on with them.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Names are extra DNS names or IPs, comma-separated, of a generated
	// certificate; it always names the host name, localhost, 127.0.0.1,
	// ::1 and the listen IPs.
	Names string `yaml:"names"`
	// HTTPS is the HTTPS listen address when TLS is on.
	HTTPS string `yaml:"https"`
	// RTSPS is the RTSPS listen address when TLS is on (media interleaved
	// in TLS; no UDP). Empty: no RTSPS.
	RTSPS string `yaml:"rtsps"`
}

// on reports whether TLS is configured.
func (t TLSConfig) on() bool { return t.SelfSigned || t.CertFile != "" || t.KeyFile != "" }

// TimeoutConfig bounds how long a client may hold a connection, so that
// clients that trickle, stall or idle cannot exhaust the appliance.
type TimeoutConfig struct {
	// HTTPRead bounds reading a whole HTTP request, headers and body
	// (http.Server ReadTimeout): a body trickled slower is cut.
	HTTPRead time.Duration `yaml:"http_read"`
	// HTTPWrite bounds each write of a response: a client that reads
	// nothing for that long is cut. Responses as a whole are not bounded:
	// replays and SubscribeToShard stream for minutes to a reading client.
	HTTPWrite time.Duration `yaml:"http_write"`
	// HTTPIdle closes a keep-alive connection idle that long.
	HTTPIdle time.Duration `yaml:"http_idle"`
	// RTSPAuth is how long a new RTSP connection has to authenticate
	// (a successful ANNOUNCE); RTSPIdle how long an authenticated one
	// without a recording session may go without a request.
	RTSPAuth time.Duration `yaml:"rtsp_auth"`
	RTSPIdle time.Duration `yaml:"rtsp_idle"`
	// WHIPIdle ends a WHIP session that received no media that long (the
	// publisher left without DELETE); its open fragment is stored.
	WHIPIdle time.Duration `yaml:"whip_idle"`
	// Shutdown is how long a stop waits for HTTP requests in flight
	// before it closes their connections (a long replay is cut then).
	Shutdown time.Duration `yaml:"shutdown"`
}

// AuthFailuresConfig is the failed-authentication brake
// (dataplane/authlimit): after Max failures from one address (an IPv4
// address or an IPv6 /64) within Window, that address is refused for 1 s,
// then 2 s, 4 s … up to MaxBackoff, without its credentials being
// checked; a success clears it.
type AuthFailuresConfig struct {
	// Max failures within Window lock an address out; 0 turns the brake
	// off.
	Max int `yaml:"max"`
	// Window is the span failures are counted over.
	Window time.Duration `yaml:"window"`
	// MaxBackoff caps the lockout, which doubles from 1 s.
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// StorageConfig is the storage budget: how much of the disk the database
// may take, and what happens when it is reached.
type StorageConfig struct {
	// MaxBytes caps the database's size on disk (e.g. 28GB, 500MiB); 0
	// leaves only the free-space rule.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MinFreeBytes and MinFreePercent keep that much of the filesystem
	// free for everything else (the larger wins; 0 turns one off).
	MinFreeBytes   ByteSize `yaml:"min_free_bytes"`
	MinFreePercent float64  `yaml:"min_free_percent"`
	// Policy at the budget: DELETE_OLDEST_MEDIA evicts the oldest
	// fragments across all cameras; DENY_NEW_MEDIA refuses new media and
	// records until retention frees space.
	Policy string `yaml:"policy"`
}

// ByteSize is a size in bytes, written as a number with an optional
// unit: 500MB, 28GB, 1.5GiB, 1048576.
type ByteSize int64

// UnmarshalText parses s.
func (b *ByteSize) UnmarshalText(s []byte) error {
	n, err := parseByteSize(string(s))
	if err != nil {
		return err
	}
	*b = ByteSize(n)
	return nil
}

// String writes b with the largest binary unit that divides it.
func (b ByteSize) String() string {
	n := int64(b)
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToUpper(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q is not a number of bytes with an optional unit (500MB, 28GB, 1.5GiB)", s)
	}
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KB": 1e3, "KIB": 1 << 10, "M": 1 << 20, "MB": 1e6, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1e9, "GIB": 1 << 30, "T": 1 << 40, "TB": 1e12, "TIB": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q has an unknown unit %q (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, unit)
	}
	if f*mult > float64(1<<62) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(f * mult), nil
}

// VideoConfig holds video stream defaults.
type VideoConfig struct {
	// AutoCreate creates a video stream on the first publish to an unknown
	// name.
	AutoCreate bool `yaml:"auto_create"`
	// RetentionHours of auto-created streams.
	RetentionHours int `yaml:"retention_hours"`
	// Takeover lets a new publisher replace the current one of a stream;
	// otherwise the newcomer is refused.
	Takeover bool `yaml:"takeover"`
	// QueueBytes bounds the media queued per stream between ingest and
	// storage; past it frames are dropped (counted) until the next keyframe.
	// 0 takes the profile's (8 MiB, or 2 MiB with the pi profile).
	QueueBytes int `yaml:"queue_bytes"`
}

// KVSConfig holds the limits of the Kinesis Video Streams media read
// APIs; the defaults are KVS's quotas.
type KVSConfig struct {
	// GetMediaCallsPerSecond is how many GetMedia calls a stream takes per
	// second (ClientLimitExceededException past it); 0 turns the limit off.
	GetMediaCallsPerSecond int `yaml:"get_media_calls_per_second"`
	// GetMediaBytesPerSecond is the rate of one GetMedia session; 0 turns
	// the limit off.
	GetMediaBytesPerSecond int64 `yaml:"get_media_bytes_per_second"`
	// GetMediaIdle ends a GetMedia session that has caught up and saw no
	// new fragment for that long, with its continuation token.
	GetMediaIdle time.Duration `yaml:"get_media_idle"`
	// PutMediaRequireAllTracks applies KVS's rule to PutMedia: a cluster
	// without frames of one of the session's tracks gets ERROR 4011
	// FRAMES_MISSING_FOR_TRACK (off: it is recorded, a silent audio
	// track).
	PutMediaRequireAllTracks bool `yaml:"put_media_require_all_tracks"`
	// PutMediaMaxFragmentSize bounds the frame bytes of a PutMedia
	// cluster (ERROR 4001 MAX_FRAGMENT_SIZE_REACHED past it): KVS's 50 MB.
	PutMediaMaxFragmentSize ByteSize `yaml:"put_media_max_fragment_size"`
}

// LiveConfig bounds live view (WHEP).
type LiveConfig struct {
	// MaxViewers bounds the live viewers of one stream; past it WHEP
	// answers 503.
	MaxViewers int `yaml:"max_viewers"`
}

// KinesisConfig holds the data streams' settings.
type KinesisConfig struct {
	// Limits enforces AWS's per-shard limits (1000 records/s and 1 MiB/s
	// in, 2 MiB/s and 5 GetRecords/s out).
	Limits bool `yaml:"limits"`
	// FragmentEvents names the data stream that receives one record per
	// stored fragment; empty disables the events.
	FragmentEvents string `yaml:"fragment_events"`
}

// S3Config names the default S3-compatible server (AWS S3, MinIO, Ceph,
// versitygw …): a Firehose S3 destination's BucketARN picks a bucket on
// it. Without an endpoint CreateDeliveryStream is refused.
type S3Config struct {
	// Endpoint is http(s)://host[:port]; empty: no S3 server.
	Endpoint string `yaml:"endpoint"`
	// Region is sent in the signatures (default us-east-1).
	Region    string `yaml:"region"`
	AccessKey string `yaml:"access_key" secret:"true"`
	SecretKey string `yaml:"secret_key" secret:"true"`
}

// FirehoseConfig holds the delivery streams' settings.
type FirehoseConfig struct {
	// SpoolBytes is the quota of the durable spool: records accepted and
	// not yet written to S3. Past it PutRecord(Batch) answer 503.
	SpoolBytes ByteSize `yaml:"spool_bytes"`
	// RetryFor is how long a batch whose writes to S3 keep failing is
	// retried before it is written under the stream's error prefix
	// (error output type s3-failed): a duration, or "forever".
	RetryFor RetryDuration `yaml:"retry_for"`
}

// RetryDuration is a positive duration (90m, 24h) or "forever"
// (negative: firehose.Options.RetryFor's forever).
type RetryDuration time.Duration

// UnmarshalText parses s.
func (r *RetryDuration) UnmarshalText(s []byte) error {
	t := strings.TrimSpace(string(s))
	if strings.EqualFold(t, "forever") {
		*r = RetryDuration(-1)
		return nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d <= 0 {
		return fmt.Errorf("%q is not a positive duration (90m, 24h) or forever", s)
	}
	*r = RetryDuration(d)
	return nil
}

// String writes r as a duration, or forever.
func (r RetryDuration) String() string {
	if r < 0 {
		return "forever"
	}
	s := time.Duration(r).String() // 24h0m0s: written 24h
	s, _ = strings.CutSuffix(s, "m0s")
	if t, ok := strings.CutSuffix(s, "h0"); ok {
		return t + "h"
	}
	if !strings.HasSuffix(s, "s") {
		s += "m"
	}
	return s
}

// ArchiveConfig turns on the video archive (firehose/archive): every
// stored fragment uploaded to Bucket on the s3 server.
type ArchiveConfig struct {
	// Bucket is the archive's bucket on s3.endpoint; empty: no archive.
	Bucket string `yaml:"bucket"`
	// Prefix is put before <appliance_id>/<stream>/YYYY/MM/DD/HH/ in the
	// object keys (e.g. "video/").
	Prefix string `yaml:"prefix"`
	// Sealed uploads the sealed blobs as stored (the default: plaintext
	// never leaves the box); false uploads playable MKV files.
	Sealed bool `yaml:"sealed"`
	// UploadWindow limits uploads to daily windows in local time,
	// "HH:MM-HH:MM" (e.g. 01:00-05:00; 22:00-05:00 spans midnight), several
	// separated by commas; empty: always.
	UploadWindow string `yaml:"upload_window"`
	// BandwidthLimit caps the archive's uplink in bytes per second (e.g.
	// 500KB); 0: no cap.
	BandwidthLimit ByteSize `yaml:"bandwidth_limit"`
	// Priority is the order a backlog goes up in: "oldest" (the
	// default: manifests complete hour by hour) or "newest" (the most
	// recent fragments across cameras first, then the backlog from the
	// newest to the oldest).
	Priority string `yaml:"priority"`
}

// FragmentConfig holds the fragmenter's cut parameters.
type FragmentConfig struct {
	Target time.Duration `yaml:"target"`
	Max    time.Duration `yaml:"max"`
}

// UpdateConfig holds the settings of kinedge update.
type UpdateConfig struct {
	// PublicKey is the ed25519 public key (base64; several
	// comma-separated) that signed update bundles must verify with
	// (kinedge update keygen prints one). Empty: updates are refused.
	PublicKey string `yaml:"public_key"`
}

// LogConfig selects the log output.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// defaultConfig returns the zero-configuration defaults of the contract.
func defaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "kinedge"
	}
	return Config{
		DataDir:     "./data",
		ApplianceID: host,
		HTTP:        ":8080",
		RTSP:        ":8554",
		RTSPUDPRTP:  ":8000",
		RTSPUDPRTCP: ":8001",
		WebRTCUDP:   ":8189",
		Profile:     profileAuto,
		KeyRotation: time.Hour,
		Region:      "us-east-1",
		AccountID:   "000000000000",
		Video: VideoConfig{
			AutoCreate:     true,
			RetentionHours: 24,
		},
		Live: LiveConfig{MaxViewers: 8},
		KVS: KVSConfig{GetMediaCallsPerSecond: kvs.DefaultGetMediaCallsPerSecond,
			GetMediaBytesPerSecond: kvs.DefaultGetMediaBytesPerSecond, GetMediaIdle: kvs.DefaultGetMediaIdle,
			PutMediaMaxFragmentSize: putmedia.DefaultMaxFragmentSize},
		Storage:  StorageConfig{MinFreePercent: 10, Policy: string(store.DeleteOldestMedia)},
		Kinesis:  KinesisConfig{Limits: true, FragmentEvents: "kinedge-fragments"},
		Firehose: FirehoseConfig{SpoolBytes: 256 << 20, RetryFor: RetryDuration(24 * time.Hour)},
		Archive:  ArchiveConfig{Sealed: true, Priority: string(archive.Oldest)},
		Fragment: FragmentConfig{Target: 2 * time.Second, Max: 10 * time.Second},
		Timeouts: TimeoutConfig{HTTPRead: time.Minute, HTTPWrite: time.Minute, HTTPIdle: time.Minute,
			RTSPAuth: 10 * time.Second, RTSPIdle: time.Minute, WHIPIdle: 10 * time.Second, Shutdown: 5 * time.Second},
		AuthFailures: AuthFailuresConfig{Max: authlimit.DefaultMaxFailures, Window: authlimit.DefaultWindow,
			MaxBackoff: authlimit.DefaultMaxBackoff},
		HTTPBodyBudget: awsproto.DefaultBodyBudget,
		Log:            LogConfig{Level: "info", Format: "text"},
		TLS:            TLSConfig{HTTPS: ":8443", RTSPS: ":8322"},
	}
}

// loadConfigFile merges a YAML file into c; unknown keys are errors.
func loadConfigFile(c *Config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// applyEnv sets every field whose environment variable is set.
func applyEnv(c *Config, getenv func(string) string) error {
	var errs []error
	walkConfig(reflect.ValueOf(c).Elem(), "", func(key string, v reflect.Value, _ reflect.StructField) {
		name := envName(key)
		s := getenv(name)
		if s == "" {
			return
		}
		if err := setValue(v, s); err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", name, err))
		}
	})
	return errors.Join(errs...)
}

func envName(key string) string {
	return "KINEDGE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func walkConfig(v reflect.Value, prefix string, fn func(key string, v reflect.Value, f reflect.StructField)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if key == "" || key == "-" {
			continue
		}
		if prefix != "" {
			key = prefix + "." + key
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Slice {
			continue // lists come from the config file only
		}
		if f.Type.Kind() == reflect.Struct {
			walkConfig(fv, key, fn)
			continue
		}
		fn(key, fv, f)
	}
}

func setValue(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeOf(time.Duration(0)) {
			d, err := time.ParseDuration(s)
			if err != nil {
				return err
			}
			v.SetInt(int64(d))
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	switch {
	case c.TLS.SelfSigned && (c.TLS.CertFile != "" || c.TLS.KeyFile != ""):
		errs = append(errs, errors.New("tls.self_signed and tls.cert_file/tls.key_file exclude each other: choose the generated certificate or yours"))
	case (c.TLS.CertFile == "") != (c.TLS.KeyFile == ""):
		errs = append(errs, errors.New("tls.cert_file and tls.key_file go together"))
	}
	if c.TLS.on() && c.TLS.HTTPS == "" {
		errs = append(errs, errors.New("tls.https is empty: TLS serves HTTPS"))
	}
	if c.HTTP == "" && !c.TLS.on() {
		errs = append(errs, errors.New("http address is empty: plain HTTP may be off only with TLS on (tls.self_signed or tls.cert_file)"))
	}
	if c.RTSP == "" && (!c.TLS.on() || c.TLS.RTSPS == "") {
		errs = append(errs, errors.New("rtsp address is empty: plain RTSP may be off only with RTSPS on (tls.rtsps with tls.self_signed or tls.cert_file)"))
	}
	if c.MasterKey != "" && c.MasterKeyFile != "" {
		errs = append(errs, fmt.Errorf("the master key is set twice, by master_key (or %s) and by master_key_file %s: keep one", seal.MasterKeyEnv, c.MasterKeyFile))
	}
	if c.Fragment.Target <= 0 || c.Fragment.Target > c.Fragment.Max {
		errs = append(errs, fmt.Errorf("fragment.target %v must be > 0 and <= fragment.max %v", c.Fragment.Target, c.Fragment.Max))
	}
	if c.Fragment.Max > 30*time.Second {
		errs = append(errs, fmt.Errorf("fragment.max %v exceeds 30s", c.Fragment.Max))
	}
	if c.Video.RetentionHours < 0 || c.Video.RetentionHours > 87600 {
		errs = append(errs, fmt.Errorf("video.retention_hours %d out of range 0..87600", c.Video.RetentionHours))
	}
	if c.Live.MaxViewers < 1 || c.Live.MaxViewers > 1000 {
		errs = append(errs, fmt.Errorf("live.max_viewers %d out of range 1..1000", c.Live.MaxViewers))
	}
	if c.KVS.GetMediaCallsPerSecond < 0 || c.KVS.GetMediaBytesPerSecond < 0 {
		errs = append(errs, fmt.Errorf("kvs.get_media_calls_per_second %d and kvs.get_media_bytes_per_second %d must be >= 0 (0: no limit)",
			c.KVS.GetMediaCallsPerSecond, c.KVS.GetMediaBytesPerSecond))
	}
	if c.KVS.PutMediaMaxFragmentSize < 1024 {
		errs = append(errs, fmt.Errorf("kvs.put_media_max_fragment_size %d is below 1KB", c.KVS.PutMediaMaxFragmentSize))
	}
	if c.KVS.GetMediaIdle < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("kvs.get_media_idle %v is below 100ms", c.KVS.GetMediaIdle))
	}
	if c.KeyRotation < time.Minute {
		errs = append(errs, fmt.Errorf("key_rotation %v is below 1m", c.KeyRotation))
	}
	if c.MemoryLimitMiB < 0 || (c.MemoryLimitMiB > 0 && c.MemoryLimitMiB < 32) {
		errs = append(errs, fmt.Errorf("memory_limit_mib %d must be 0 (off) or at least 32", c.MemoryLimitMiB))
	}
	for _, ip := range iceServers(c.WebRTCPublicIPs) {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("webrtc_public_ips: %q is not an IP address", ip))
		}
	}
	if c.WebRTCTCP != "" && c.WebRTCUDP == "" {
		errs = append(errs, fmt.Errorf("webrtc_tcp %q needs webrtc_udp: ICE-TCP is the fallback of WebRTC, which webrtc_udp \"\" turns off", c.WebRTCTCP))
	} else if c.WebRTCTCP != "" {
		if _, _, err := net.SplitHostPort(c.WebRTCTCP); err != nil {
			errs = append(errs, fmt.Errorf("webrtc_tcp %q is not host:port: %w", c.WebRTCTCP, err))
		}
	}
	for _, u := range iceServers(c.WebRTCICEServers) {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") || strings.ContainsAny(u, "<> \t\"") {
			errs = append(errs, fmt.Errorf("webrtc_ice_servers: %q is not a stun:, turn: or turns: URL", u))
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"timeouts.http_read", c.Timeouts.HTTPRead}, {"timeouts.http_write", c.Timeouts.HTTPWrite},
		{"timeouts.http_idle", c.Timeouts.HTTPIdle},
		{"timeouts.rtsp_auth", c.Timeouts.RTSPAuth}, {"timeouts.rtsp_idle", c.Timeouts.RTSPIdle},
		{"timeouts.whip_idle", c.Timeouts.WHIPIdle},
		{"timeouts.shutdown", c.Timeouts.Shutdown}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v must be > 0", d.key, d.v))
		}
	}
	if c.AuthFailures.Max < 0 {
		errs = append(errs, fmt.Errorf("auth_failures.max %d must be >= 0 (0 turns the brake off)", c.AuthFailures.Max))
	}
	if c.AuthFailures.Window <= 0 {
		errs = append(errs, fmt.Errorf("auth_failures.window %v must be > 0", c.AuthFailures.Window))
	}
	if c.AuthFailures.MaxBackoff < time.Second {
		errs = append(errs, fmt.Errorf("auth_failures.max_backoff %v is below 1s (the first lockout)", c.AuthFailures.MaxBackoff))
	}
	if c.HTTPBodyBudget < 1<<20 {
		errs = append(errs, fmt.Errorf("http_body_budget %v is below 1 MiB", c.HTTPBodyBudget))
	}
	if c.Video.QueueBytes != 0 && c.Video.QueueBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("video.queue_bytes %d is below 1 MiB (0 takes the profile's)", c.Video.QueueBytes))
	}
	switch c.Profile {
	case profileAuto, profileDefault, profilePi:
	default:
		errs = append(errs, fmt.Errorf("profile %q is not auto|default|pi", c.Profile))
	}
	if _, err := store.ParsePolicy(c.Storage.Policy); err != nil {
		errs = append(errs, fmt.Errorf("storage.policy %q is not DELETE_OLDEST_MEDIA|DENY_NEW_MEDIA", c.Storage.Policy))
	}
	if c.Storage.MinFreePercent < 0 || c.Storage.MinFreePercent >= 100 {
		errs = append(errs, fmt.Errorf("storage.min_free_percent %v is not in [0, 100)", c.Storage.MinFreePercent))
	}
	if c.Storage.MaxBytes < 0 || c.Storage.MinFreeBytes < 0 {
		errs = append(errs, errors.New("storage sizes must not be negative"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q is not debug|info|warn|error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q is not text|json", c.Log.Format))
	}
	if c.S3.Endpoint != "" {
		if _, err := firehose.NewS3(c.s3()); err != nil {
			errs = append(errs, fmt.Errorf("s3.endpoint %q is not http(s)://host[:port]", c.S3.Endpoint))
		}
	}
	if c.Archive.Bucket != "" && c.S3.Endpoint == "" {
		errs = append(errs, fmt.Errorf("archive.bucket %q needs s3.endpoint (KINEDGE_S3_ENDPOINT): the archive has no S3 server", c.Archive.Bucket))
	}
	if _, err := archive.ParseWindows(c.Archive.UploadWindow); err != nil {
		errs = append(errs, fmt.Errorf("archive.upload_window: %w", err))
	}
	if c.Archive.BandwidthLimit < 0 {
		errs = append(errs, errors.New("archive.bandwidth_limit must not be negative"))
	}
	if _, err := archive.ParsePriority(c.Archive.Priority); err != nil {
		errs = append(errs, fmt.Errorf("archive.priority %q is neither oldest nor newest", c.Archive.Priority))
	}
	if c.Firehose.SpoolBytes <= 0 {
		errs = append(errs, fmt.Errorf("firehose.spool_bytes %d must be positive", c.Firehose.SpoolBytes))
	}
	if c.Firehose.RetryFor == 0 {
		errs = append(errs, errors.New("firehose.retry_for must be a positive duration or forever"))
	}
	seen := map[string]bool{}
	for i, src := range c.Streams {
		if err := src.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("streams[%d]: %w", i, err))
		}
		if seen[src.Name] {
			errs = append(errs, fmt.Errorf("streams[%d]: %s is listed twice", i, src.Name))
		}
		seen[src.Name] = true
	}
	fwd := map[string]bool{}
	for i, u := range c.Upstreams {
		for _, err := range u.validate() {
			errs = append(errs, fmt.Errorf("upstreams[%d]: %w", i, err))
		}
		if fwd[u.Stream] {
			errs = append(errs, fmt.Errorf("upstreams[%d]: %s is forwarded twice", i, u.Stream))
		}
		fwd[u.Stream] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// UpstreamForward forwards one local stream to an upstream KVS.
type UpstreamForward struct {
	// Stream is the local video stream.
	Stream   string         `yaml:"stream"`
	Upstream UpstreamTarget `yaml:"upstream"`
}

// UpstreamTarget is where a stream is forwarded: a KVS data endpoint
// (PutMedia) and the credentials it is signed with.
type UpstreamTarget struct {
	Endpoint  string `yaml:"endpoint"`
	Region    string `yaml:"region"`
	AccessKey string `yaml:"access_key" secret:"true"`
	SecretKey string `yaml:"secret_key" secret:"true"`
	// Stream is the stream's name upstream; it defaults to the local
	// name.
	Stream string `yaml:"stream"`
	// Window is the daily upload windows, local time, "HH:MM-HH:MM"
	// separated by commas (firehose/uplink); empty: always.
	Window string `yaml:"window"`
	// BandwidthLimit caps the upload in bytes per second (e.g. "2MB");
	// 0: none.
	BandwidthLimit ByteSize `yaml:"bandwidth_limit"`
}

func (u UpstreamForward) validate() []error {
	var errs []error
	if u.Stream == "" {
		errs = append(errs, errors.New("stream is required"))
	}
	if ep, err := url.Parse(u.Upstream.Endpoint); err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
		errs = append(errs, fmt.Errorf("upstream.endpoint %q must be an http(s) URL", u.Upstream.Endpoint))
	}
	if u.Upstream.Region == "" {
		errs = append(errs, errors.New("upstream.region is required"))
	}
	if u.Upstream.AccessKey == "" || u.Upstream.SecretKey == "" {
		errs = append(errs, errors.New("upstream.access_key and upstream.secret_key are required"))
	}
	if _, err := uplink.ParseWindows(u.Upstream.Window); err != nil {
		errs = append(errs, fmt.Errorf("upstream.window: %w", err))
	}
	if u.Upstream.BandwidthLimit < 0 {
		errs = append(errs, errors.New("upstream.bandwidth_limit must not be negative"))
	}
	return errs
}

// printable renders the effective config as YAML with secrets redacted,
// each key annotated with its environment variable.
func (c *Config) printable() string {
	var b strings.Builder
	b.WriteString("# effective configuration (secrets redacted)\n")
	walkConfig(reflect.ValueOf(c).Elem(), "", func(key string, v reflect.Value, f reflect.StructField) {
		val := fmt.Sprint(v.Interface())
		switch {
		case f.Tag.Get("secret") == "true" && val != "":
			val = "<redacted>"
		case v.Kind() == reflect.String:
			val = strconv.Quote(val)
		}
		indent := strings.Repeat("  ", strings.Count(key, "."))
		name := key[strings.LastIndex(key, ".")+1:]
		if i := strings.LastIndex(key, "."); i >= 0 && f.Index[0] == 0 {
			parent := key[:i]
			fmt.Fprintf(&b, "%s%s:\n", strings.Repeat("  ", strings.Count(parent, ".")), parent[strings.LastIndex(parent, ".")+1:])
		}
		comment := envName(key)
		if note := f.Tag.Get("note"); note != "" {
			comment += " (" + note + ")"
		}
		fmt.Fprintf(&b, "%s%s: %s  # %s\n", indent, name, val, comment)
	})
	b.WriteString("streams:  # cameras to pull (config file only)")
	if len(c.Streams) == 0 {
		b.WriteString(" []\n")
	} else {
		b.WriteString("\n")
		for _, s := range c.Streams {
			fmt.Fprintf(&b, "  - name: %q\n    source: %q\n", s.Name, rtsp.RedactURL(s.Source))
		}
	}
	b.WriteString("upstreams:  # streams forwarded to an upstream KVS (also PUT /v1/streams/{name}/upstream)")
	if len(c.Upstreams) == 0 {
		b.WriteString(" []\n")
	} else {
		b.WriteString("\n")
		for _, u := range c.Upstreams {
			fmt.Fprintf(&b, "  - stream: %q\n    upstream: {endpoint: %q, region: %q, access_key: <redacted>, secret_key: <redacted>, stream: %q, window: %q, bandwidth_limit: %d}\n",
				u.Stream, u.Upstream.Endpoint, u.Upstream.Region, u.Upstream.Stream, u.Upstream.Window, u.Upstream.BandwidthLimit)
		}
	}
	return b.String()
}

// s3 returns the S3 server of the Firehose destinations.
func (c *Config) s3() firehose.S3Config {
	return firehose.S3Config{Endpoint: c.S3.Endpoint, Region: c.S3.Region, AccessKey: c.S3.AccessKey, SecretKey: c.S3.SecretKey}
}
