package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"sync"
	"time"

	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/kinedge/kinedge/dataplane/authz"
	"github.com/kinedge/kinedge/dataplane/awsproto"
	kinesisapi "github.com/kinedge/kinedge/dataplane/kinesis/api"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/dataplane/video/events"
	"github.com/kinedge/kinedge/dataplane/video/kvs"
	"github.com/kinedge/kinedge/dataplane/video/live"
	"github.com/kinedge/kinedge/dataplane/video/mediatoken"
	"github.com/kinedge/kinedge/dataplane/video/thumbnail"
	"github.com/kinedge/kinedge/dataplane/video/upstream"
	"github.com/kinedge/kinedge/dataplane/video/web"
	"github.com/kinedge/kinedge/dataplane/video/whep"
	"github.com/kinedge/kinedge/firehose"
	firehoseapi "github.com/kinedge/kinedge/firehose/api"
	"github.com/kinedge/kinedge/firehose/archive"
	"github.com/kinedge/kinedge/firmware/sdnotify"
	"github.com/kinedge/kinedge/firmware/tlscert"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/putmedia"
	"github.com/kinedge/kinedge/ingest/rtsp"
	"github.com/kinedge/kinedge/ingest/sources"
	"github.com/kinedge/kinedge/ingest/webrtc"
	"github.com/kinedge/kinedge/ingest/webrtc/rtc"
)

// loadConfig builds the effective config: defaults, then the file, then
// the environment, then the flags that were set.
func loadConfig(args []string, stderr io.Writer) (Config, bool, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML config `file`")
	dataDir := fs.String("data-dir", "", "data `dir` (default ./data)")
	httpAddr := fs.String("http", "", "HTTP listen `addr` (default :8080)")
	rtspAddr := fs.String("rtsp", "", "RTSP listen `addr` (default :8554)")
	webrtcUDP := fs.String("webrtc-udp", "", "WebRTC ICE UDP `addr`: WHIP publish and WHEP live view (default :8189)")
	webrtcTCP := fs.String("webrtc-tcp", "", "WebRTC ICE-TCP `addr`: the fallback for peers without UDP (default off)")
	printConfig := fs.Bool("print-config", false, "print the effective config and exit")
	fs.Usage = func() { serveUsage(fs, stderr) }
	if err := fs.Parse(args); err != nil {
		return Config{}, false, err
	}
	if fs.NArg() > 0 {
		return Config{}, false, fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	cfg := defaultConfig()
	if *configFile == "" {
		*configFile = os.Getenv("KINEDGE_CONFIG")
	}
	if *configFile != "" {
		if err := loadConfigFile(&cfg, *configFile); err != nil {
			return cfg, false, err
		}
	}
	if err := checkMasterKeySources(&cfg, os.Getenv); err != nil {
		return cfg, false, err
	}
	if err := applyEnv(&cfg, os.Getenv); err != nil {
		return cfg, false, err
	}
	for _, f := range []struct {
		v   string
		dst *string
	}{{*dataDir, &cfg.DataDir}, {*httpAddr, &cfg.HTTP}, {*rtspAddr, &cfg.RTSP}, {*webrtcUDP, &cfg.WebRTCUDP}, {*webrtcTCP, &cfg.WebRTCTCP}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	return cfg, *printConfig, cfg.Validate()
}

// serveUsage prints the flags, the ports and every setting's
// environment variable with its default.
func serveUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `usage: kinedge serve [flags]

Runs the appliance. With no configuration it keeps its data in ./data and
generates its credentials there on the first start.

flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	def := defaultConfig()
	fmt.Fprintf(w, `
ports (defaults; each is a setting below):
  %-14s TCP  HTTP: the web API, the AWS APIs (Kinesis, Firehose, KVS), /healthz, /metrics  (http)
  %-14s TCP  RTSP: cameras publish and are pulled  (rtsp)
  %-14s UDP  RTP of RTSP publishers over UDP  (rtsp_udp_rtp; empty turns UDP off)
  %-14s UDP  RTCP of RTSP publishers over UDP  (rtsp_udp_rtcp)
  %-14s UDP  WebRTC ICE: WHIP publish at POST /whip/<stream>, WHEP live view at POST /whep/<stream>  (webrtc_udp; "" in the config file turns WebRTC off)
  %-14s TCP  WebRTC ICE-TCP: the fallback for peers whose UDP is blocked  (webrtc_tcp; off by default)
  %-14s TCP  HTTPS (HTTP/2): everything the HTTP port serves, with TLS on  (tls.https; TLS is off by default: tls.self_signed or tls.cert_file)
  %-14s TCP  RTSPS: RTSP in TLS, media interleaved, with TLS on  (tls.rtsps)

settings: a YAML file (--config or KINEDGE_CONFIG) sets any of them, an
environment variable overrides the file, a flag above overrides both;
"kinedge serve --print-config" prints the result. Variables and defaults:
`, def.HTTP, def.RTSP, def.RTSPUDPRTP, def.RTSPUDPRTCP, def.WebRTCUDP, "(off)", def.TLS.HTTPS, def.TLS.RTSPS)
	walkConfig(reflect.ValueOf(&def).Elem(), "", func(key string, v reflect.Value, f reflect.StructField) {
		val := fmt.Sprint(v.Interface())
		if val == "" {
			val = `""`
		}
		fmt.Fprintf(w, "  %-44s %s\n", envName(key), val)
	})
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, printOnly, err := loadConfig(args, stderr)
	if err != nil {
		return err
	}
	if printOnly {
		fmt.Fprint(stdout, cfg.printable())
		return nil
	}
	log := newLogger(cfg.Log, stderr)
	if cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimitMiB) << 20)
	}
	app, err := startAppliance(ctx, &cfg, log, stdout)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-app.errc:
		log.Error("server failed", "err", err)
	}
	return errors.Join(err, app.close())
}

// appliance is the running set of components.
type appliance struct {
	log     *slog.Logger
	users   *authz.Store
	db      *store.DB
	idx     *index.Index
	streams *engine.Engine
	kinesis *kinesisapi.Handler
	fh      *firehose.Engine
	fhAPI   *firehoseapi.Handler
	archive *archive.Archiver // nil without archive.bucket
	// seeder numbers fragments past the archive's (see archive.Seeder);
	// nil without archive.bucket.
	seeder *archive.Seeder
	// tier replays archived fragments through the video API; nil without
	// an archive.
	tier     videoapi.Archive
	events   *events.Queue
	sources  *sources.Manager
	putMedia *putmedia.Server // KVS PutMedia, recording through sources
	// upstreams forward streams to an upstream KVS (upstreams: in the
	// config, or /v1/streams/{name}/upstream).
	upstreams *upstream.Manager
	rtsp      *rtsp.Server
	// authFails brakes password guessing on every surface (auth_failures).
	authFails *authlimit.Limiter
	// live fans every recorded source out to live viewers; rtcNet is the
	// WebRTC ICE port (nil with webrtc_udp empty); whep serves live view.
	live   *live.Hub
	rtcNet *rtc.Network
	whep   *whep.Handler
	// whip receives WebRTC publishers (WHIP) into a.sources.
	whip *webrtc.Handler
	// http serves httpLn (plain; nil with http "") and httpsLn (TLS;
	// nil without tls).
	http    *http.Server
	httpLn  net.Listener
	httpsLn net.Listener
	tlsCert *tlscert.Cert // nil without tls
	// inflight counts the HTTP handlers running, so close can wait for
	// the ones it ended; shutdownGrace is cfg.Timeouts.Shutdown.
	inflight      sync.WaitGroup
	shutdownGrace time.Duration
	debug         *http.Server
	errc          chan error

	clock *clockWatch
	// archiveLagLimit is the archive lag that degrades /healthz.
	archiveLagLimit time.Duration
	notifier        sdnotify.Notifier
	stopWatchdog    chan struct{} // closed to stop the watchdog goroutine
	watchdogDone    chan struct{}
}

// startSystemd tells systemd the appliance is ready and, when the unit
// has a watchdog, pings it at half the interval as long as the database
// answers: a wedged appliance stops pinging and systemd restarts it.
func (a *appliance) startSystemd() error {
	a.notifier = sdnotify.Notifier{Getenv: os.Getenv}
	if err := a.notifier.Notify(sdnotify.Ready); err != nil && !errors.Is(err, sdnotify.ErrNoSocket) {
		a.log.Warn("systemd notification failed", "err", err)
	}
	interval, err := a.notifier.WatchdogInterval(os.Getpid())
	if err != nil || interval == 0 {
		return err
	}
	a.stopWatchdog = make(chan struct{})
	a.watchdogDone = make(chan struct{})
	go func() {
		defer close(a.watchdogDone)
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			select {
			case <-a.stopWatchdog:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), interval/4)
			_, err := a.idx.Streams(ctx)
			cancel()
			if err != nil {
				a.log.Error("health check failed: not pinging the systemd watchdog", "err", err)
				continue
			}
			if err := a.notifier.Notify(sdnotify.Watchdog); err != nil {
				a.log.Warn("systemd watchdog ping failed", "err", err)
			}
		}
	}()
	a.log.Info("systemd watchdog on", "interval", interval)
	return nil
}

func startAppliance(ctx context.Context, cfg *Config, log *slog.Logger, stdout io.Writer) (_ *appliance, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := ensureCredentials(cfg, stdout); err != nil {
		return nil, err
	}
	var certs *tlscert.Cert
	if cfg.TLS.on() {
		if certs, err = loadTLS(cfg, stdout, time.Now()); err != nil {
			return nil, err
		}
	}
	masters, created, err := loadMasterKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	a := &appliance{log: log, errc: make(chan error, 3), tlsCert: certs}
	if certs != nil {
		log.Info("tls certificate", "file", certs.CertFile, "sha256_fingerprint", certs.Fingerprint(), "public_key_pin", certs.PublicKeyPin(),
			"expires", certs.Leaf.NotAfter)
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	// The clock first: a board without a real-time clock may have booted
	// at 1970, and the log says so before anything is recorded.
	a.clock = &clockWatch{interval: 10 * time.Second, log: log.With("component", "clock")}
	a.clock.start()
	prof, why := resolveProfile(cfg.Profile, readMemTotal())
	log.Info("profile", "profile", prof.name, "why", why)
	if prof.gcPercent > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(prof.gcPercent)
	}
	if cfg.Video.QueueBytes == 0 {
		cfg.Video.QueueBytes = prof.queueBytes
	}
	storeOpts, err := cfg.storeOptions(prof)
	if err != nil {
		return nil, err
	}
	storeOpts.Dir = filepath.Join(cfg.DataDir, "db")
	storeOpts.Logger = log.With("component", "store")
	a.db, err = store.Open(storeOpts)
	if err != nil {
		return nil, err
	}
	if st := a.db.Status(); st.State != store.StateOK {
		log.Warn("storage", "state", st.State, "reason", st.Reason)
	}
	a.idx, err = index.Open(index.Options{
		DB:      a.db,
		Logger:  log.With("component", "index"),
		Region:  cfg.Region,
		Account: cfg.AccountID,
		Now:     a.clock.tl.Now,
		// Retention ages what was recorded before the clock was set on
		// the boot's clock until the correction moves it.
		BootClock: a.clock.bootClock,
		// Never a fragment at 1970 or in the future (docs/clock.md).
		TimeFloor: a.clock.w.Floor, FutureTolerance: time.Minute,
	})
	if err != nil {
		return nil, err
	}
	keyring := &seal.Keyring{Store: a.idx.Keys(), Master: masters.Active, Retired: masters.Others(), Rotation: cfg.KeyRotation, Logger: log.With("component", "keyring")}
	if err := keyring.Initialize(ctx); err != nil {
		return nil, err
	}
	a.idx.OnKeysDestroyed(keyring.Forget)
	log.Info("keyring ready", "master_key_check", keyring.MasterCheck(), "master_key_created", created)
	// The users, sealed by the keyring: every surface asks them.
	if a.users, err = openUsers(ctx, cfg, keyring, nil); err != nil {
		return nil, err
	}

	dataSpace, err := a.db.Space("d/")
	if err != nil {
		return nil, err
	}
	a.streams, err = engine.Open(engine.Options{
		Space:      dataSpace,
		Logger:     log.With("component", "streams"),
		Limits:     kinesisLimits(cfg.Kinesis.Limits),
		WriteQueue: prof.writeQueue,
		Sealer:     keyring,
		Region:     cfg.Region,
		AccountID:  cfg.AccountID,
	})
	if err != nil {
		return nil, err
	}
	a.kinesis = &kinesisapi.Handler{Engine: a.streams, Logger: log.With("component", "kinesis"),
		Visible: visibleTo(kinesisActions["DescribeStream"]...)}

	if err := a.openFirehose(cfg, log, keyring); err != nil {
		return nil, err
	}

	a.sources = &sources.Manager{
		Index: a.idx, DB: a.db, Sealer: keyring,
		AutoCreate: cfg.Video.AutoCreate, RetentionHours: cfg.Video.RetentionHours, Takeover: cfg.Video.Takeover,
		FragmentTarget: cfg.Fragment.Target, FragmentMax: cfg.Fragment.Max, QueueBytes: cfg.Video.QueueBytes,
		Pulls: cfg.Streams, Dir: cfg.DataDir, Logger: log.With("component", "sources"),
		Clock: a.clock.recordClock(),
	}
	a.live = &live.Hub{MaxViewers: cfg.Live.MaxViewers}
	a.sources.LiveTap = func(stream string, tracks []*media.Track) sources.LiveFeed { return a.live.Attach(stream, tracks) }
	if cfg.WebRTCUDP != "" {
		a.rtcNet, err = rtc.Listen(rtc.Config{UDPAddress: cfg.WebRTCUDP, TCPAddress: cfg.WebRTCTCP, PublicIPs: iceServers(cfg.WebRTCPublicIPs),
			IncludeLoopback: loopbackAddr(cfg.WebRTCUDP), Logger: log.With("component", "webrtc")})
		if err != nil {
			return nil, fmt.Errorf("%w%s", err, listenHint(err, "the WebRTC UDP address is set by webrtc_udp (KINEDGE_WEBRTC_UDP, --webrtc-udp; empty turns WebRTC off), the ICE-TCP one by webrtc_tcp (KINEDGE_WEBRTC_TCP, --webrtc-tcp)"))
		}
	}
	a.whep = &whep.Handler{Hub: a.live, Network: a.rtcNet, Streams: indexStreams{a.idx}, Logger: log.With("component", "whep")}
	if name := cfg.Kinesis.FragmentEvents; name != "" {
		a.events = &events.Queue{Appender: &events.Appender{Engine: a.streams, Stream: name}, ApplianceID: cfg.ApplianceID, Logger: log.With("component", "events")}
		if err := a.events.Start(); err != nil {
			return nil, err
		}
		a.sources.OnStored = a.events.Enqueue
		a.idx.OnClockCorrected(a.events.EnqueueCorrection) // a fragment's times moved when the clock was set
	}
	if err := a.openUpstreams(cfg, keyring, log); err != nil {
		return nil, err
	}
	if err := a.openArchive(cfg, keyring, log); err != nil {
		return nil, err
	}
	// After the archive's seeder: the correction's first fragment number
	// of this run is issued here, and a fresh database's numbering is the
	// seeder's to choose (past its predecessor's in the bucket). Before
	// anything records.
	if err := a.startClockCorrection(ctx); err != nil {
		return nil, err
	}
	a.putMedia = newPutMedia(a.sources, cfg.KVS, log.With("component", "putmedia"))
	a.authFails = authLimiter(cfg, log.With("component", "auth"))
	a.rtsp = &rtsp.Server{
		Limiter:        a.authFails,
		Address:        cfg.RTSP,
		UDPRTPAddress:  cfg.RTSPUDPRTP,
		UDPRTCPAddress: cfg.RTSPUDPRTCP,
		Router:         a.sources,
		Auth:           publishAuth(cfg, a.users),
		ReadAuth:       readAuth(cfg, a.users),
		AuthTimeout:    cfg.Timeouts.RTSPAuth,
		IdleTimeout:    cfg.Timeouts.RTSPIdle,
		Logger:         log.With("component", "rtsp"),
	}
	if certs != nil && cfg.TLS.RTSPS != "" {
		a.rtsp.TLSAddress, a.rtsp.TLSConfig = cfg.TLS.RTSPS, serverTLS(certs)
		if cfg.RTSP == "" {
			// RTSPS alone: its media goes inside TLS, so no UDP ports.
			a.rtsp.TLSOnly = true
			a.rtsp.UDPRTPAddress, a.rtsp.UDPRTCPAddress = "", ""
		}
	}
	if err := a.rtsp.Start(); err != nil {
		return nil, fmt.Errorf("rtsp: %w%s", err, listenHint(err,
			"the RTSP listeners are set by rtsp (KINEDGE_RTSP, --rtsp) for TCP, tls.rtsps (KINEDGE_TLS_RTSPS) for RTSPS, and by rtsp_udp_rtp and rtsp_udp_rtcp (KINEDGE_RTSP_UDP_RTP, KINEDGE_RTSP_UDP_RTCP; empty turns UDP off)"))
	}
	// The pullers start after the RTSP server, so that their cameras are
	// relayed to live players from their first connection. (A publisher
	// in between is refused with 500 and retries.)
	a.sources.Live = a.rtsp
	if err := a.sources.Start(); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", healthHandler(a.healthState))
	api := http.NewServeMux()
	// One picture maker (ffmpeg, its cache and decoder bound) for the web
	// page's pictures and KVS GetImages.
	pictures := &thumbnail.Maker{}
	kvsAPI := kvsHandler(cfg, a.idx, keyring, log.With("component", "kvs"))
	kvsAPI.Thumbnails = pictures
	// The page's live HLS fallback opens KVS LIVE sessions: one HLS path.
	(&videoapi.Handler{Index: a.idx, Pulls: pullStates{a.sources}, Sessions: sessionStates{a.sources}, Opener: keyring, Thumbnails: pictures, Archive: a.tier,
		LiveHLS: kvsAPI, Logger: log.With("component", "videoapi")}).Register(api)
	a.sources.Register(api)
	a.registerUpstreams(api)
	a.whep.Register(api)
	kvsAPI.ExtraDataAPIs = []string{"PUT_MEDIA"}
	// The web page, its login and media tokens; its Guard stands in front
	// of everything in api (the plain API, the page, WHEP).
	ui, err := webHandler(cfg, log.With("component", "web"))
	if err != nil {
		return nil, err
	}
	ui.Limiter = a.authFails
	ui.Users = a.users
	ui.Register(api)
	// The users' admin API: the Guard admits admins only.
	authz.API{Store: a.users}.Register(api)
	// WHIP is outside the Guard: its bearer is the publish pass or a
	// publish token (whipVerifier), not an admin login. Its routes are
	// more specific than "/", so they win on mux.
	a.whip = &webrtc.Handler{Network: a.rtcNet, Publisher: whipPublisher{a.sources}, Verify: whipVerifier(cfg, ui.Tokens, a.users),
		Limiter:    a.authFails,
		ICEServers: iceServers(cfg.WebRTCICEServers), IdleTimeout: cfg.Timeouts.WHIPIdle, KeyframeTarget: cfg.Fragment.Target,
		Logger: log.With("component", "whip")}
	a.whip.Register(mux)
	api.Handle("GET /metrics", metricsHandler(a.db, a.idx, a.sources, a.rtsp, a.streams, a.events, a.fh, a.archive,
		append(tierCollectors(a.tier), &liveCollector{hub: a.live, whep: a.whep}, kvsCollector{kvsAPI}, whipCollector{a.whip}, putMediaCollector{a.putMedia}, a.upstreams.Collector(), a.clock,
			authlimit.NewCollector(a.authFails))...))
	// SigV4 with any user's key; then each operation needs its permission.
	verifier := usersVerifier(a.users)
	verifier.Limiter = a.authFails
	// KVS's REST API names a throttled client its own way.
	kvsVerifier := *verifier
	kvsVerifier.LockedOutType = kvs.ClientLimitExceededException
	sigv4 := func(next http.Handler) http.Handler {
		return awsproto.Middleware(&kvsVerifier, authorizeAWS(cfg, a.users, "kinesisvideo", next), 0)
	}
	// Paths no route claims: a SigV4-signed POST is an AWS call for an
	// operation the appliance does not have (404 UnknownOperationException),
	// anything else is for the web page and plain API behind the Guard.
	mux.Handle("/", kvsAPI.Fallback(sigv4, ui.Guard(api)))
	mux.Handle("POST /{$}", awsTargets(verifier, authorizeAWS(cfg, a.users, "kinesis", a.kinesis), authorizeAWS(cfg, a.users, "firehose", a.fhAPI)))
	kvsAPI.Register(mux, sigv4)
	// HLS sessions' playlists and segments: their SessionToken is the
	// credential (players send neither SigV4 nor Basic), so they stand in
	// front of both.
	kvsAPI.RegisterHLS(mux)
	// PutMedia streams its body for as long as the producer sends: signed
	// on the headers alone, never buffered (the session moves its own
	// read deadline).
	mux.Handle("POST /putMedia", awsproto.StreamingMiddleware(&kvsVerifier, authorizeAWS(cfg, a.users, "kinesisvideo", a.putMedia)))

	if cfg.DebugAddr != "" {
		if err := a.startDebug(cfg.DebugAddr); err != nil {
			return nil, err
		}
	}

	if cfg.HTTP != "" {
		a.httpLn, err = net.Listen("tcp", cfg.HTTP)
		if err != nil {
			return nil, fmt.Errorf("http: %w%s", err, listenHint(err, "the HTTP address is set by http (KINEDGE_HTTP, --http)"))
		}
	}
	if certs != nil {
		a.httpsLn, err = net.Listen("tcp", cfg.TLS.HTTPS)
		if err != nil {
			return nil, fmt.Errorf("https: %w%s", err, listenHint(err, "the HTTPS address is set by tls.https (KINEDGE_TLS_HTTPS)"))
		}
	}
	// One server for both listeners: the same routes, timeouts and
	// shutdown. HTTP/2 without TLS (h2c) next to HTTP/1.1 on the plain
	// port: Kinesis clients (the KCL, the Java SDK) use it for
	// SubscribeToShard; HTTP/2 over TLS (ALPN h2) on the HTTPS port.
	a.http = a.newHTTPServer(cfg, mux)
	a.http.Protocols = new(http.Protocols)
	a.http.Protocols.SetHTTP1(true)
	a.http.Protocols.SetUnencryptedHTTP2(true)
	a.http.Protocols.SetHTTP2(true)
	if a.httpsLn != nil {
		// Set before any Serve starts: serving configures HTTP/2 into it.
		a.http.TLSConfig = serverTLS(certs)
	}
	serve := func(run func() error) {
		go func() {
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.errc <- err
			}
		}()
	}
	if a.httpLn != nil {
		serve(func() error { return a.http.Serve(a.httpLn) })
	}
	if a.httpsLn != nil {
		serve(func() error { return a.http.ServeTLS(a.httpsLn, "", "") })
	}
	if err := a.startSystemd(); err != nil {
		return nil, err
	}
	webrtcAddr, webrtcTCPAddr, httpAddr, httpsAddr, rtspAddr, rtspsAddr := "off", "off", "off", "off", "off", "off"
	if a.httpLn != nil {
		httpAddr = a.httpLn.Addr().String()
	}
	if a.httpsLn != nil {
		httpsAddr = a.httpsLn.Addr().String()
	}
	if ra := a.rtsp.Addr(); ra != nil {
		rtspAddr = ra.String()
	}
	if ra := a.rtsp.TLSAddr(); ra != nil {
		rtspsAddr = ra.String()
	}
	if a.rtcNet != nil {
		webrtcAddr = a.rtcNet.Addr().String()
		if ta := a.rtcNet.TCPAddr(); ta != nil {
			webrtcTCPAddr = ta.String()
		}
	}
	log.Info("kinedge serving", "version", version, "data_dir", cfg.DataDir,
		"http", httpAddr, "https", httpsAddr, "rtsp", rtspAddr, "rtsps", rtspsAddr, "webrtc_udp", webrtcAddr, "webrtc_tcp", webrtcTCPAddr)
	return a, nil
}

// newHTTPServer returns the appliance's HTTP server. Requests are bounded
// in what they may hold: ReadTimeout covers headers and body (a trickled
// body is cut), each write of a response must reach the client within
// timeouts.http_write (awsproto.StallHandler: a replay streams for as long
// as its client reads), IdleTimeout closes idle keep-alive connections,
// and the AWS APIs read their bodies within one shared
// awsproto.BodyBudget. A route that must read a long body (a future
// PutMedia) extends its own deadline with
// http.ResponseController.SetReadDeadline.
func (a *appliance) newHTTPServer(cfg *Config, mux http.Handler) *http.Server {
	bodies := &awsproto.BodyBudget{Bytes: int64(cfg.HTTPBodyBudget)}
	a.shutdownGrace = cfg.Timeouts.Shutdown
	h := awsproto.StallHandler(bodies.Handler(mux), cfg.Timeouts.HTTPWrite)
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.inflight.Add(1)
			defer a.inflight.Done()
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: min(10*time.Second, cfg.Timeouts.HTTPRead),
		ReadTimeout:       cfg.Timeouts.HTTPRead,
		WriteTimeout:      cfg.Timeouts.HTTPWrite, // reset per request; StallHandler moves it per write
		IdleTimeout:       cfg.Timeouts.HTTPIdle,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// closeHTTP stops the HTTP server: it waits up to the shutdown grace for
// the requests in flight, then closes the connections still busy (a long
// replay, a client stalled in the middle of its body) and waits for their
// handlers, which end once their connection is gone. Cutting them is the
// stop doing its job, not an error.
func (a *appliance) closeHTTP() {
	ctx, cancel := context.WithTimeout(context.Background(), a.shutdownGrace)
	defer cancel()
	if err := a.http.Shutdown(ctx); err == nil {
		return
	}
	a.log.Warn("http: closing the connections still busy after the shutdown grace", "grace", a.shutdownGrace)
	a.http.Close()
	done := make(chan struct{})
	go func() {
		a.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(a.shutdownGrace):
		a.log.Warn("http: handlers still running after their connections were closed")
	}
}

// listenHint returns " (" + which + ")" when err is a failure to listen
// (a port taken, an address not local, no permission), so the message
// names the setting that moves it.
func listenHint(err error, which string) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "listen" {
		return " (" + which + ")"
	}
	return ""
}

// startDebug serves net/http/pprof on addr.
func (a *appliance) startDebug(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("debug: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.debug = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go a.debug.Serve(ln)
	a.log.Warn("pprof debug endpoints open without credentials", "addr", ln.Addr().String())
	return nil
}

// openFirehose opens the delivery streams on the "f/" space, writing to
// the configured S3 server (none: CreateDeliveryStream is refused),
// sealing the records of encrypted streams with the keyring.
func (a *appliance) openFirehose(cfg *Config, log *slog.Logger, sealer firehose.Sealer) error {
	space, err := a.db.Space("f/")
	if err != nil {
		return err
	}
	var dest firehose.Destination
	if cfg.S3.Endpoint != "" {
		s3, err := firehose.NewS3(cfg.s3())
		if err != nil {
			return err
		}
		dest = s3
	}
	a.fh, err = firehose.Open(firehose.Options{
		Space:       space,
		Destination: dest,
		Sealer:      sealer,
		Source:      streamsSource{a.streams},
		Logger:      log.With("component", "firehose"),
		SpoolBytes:  int64(cfg.Firehose.SpoolBytes),
		RetryFor:    time.Duration(cfg.Firehose.RetryFor),
		Region:      cfg.Region,
		AccountID:   cfg.AccountID,
	})
	if err != nil {
		return err
	}
	a.fhAPI = &firehoseapi.Handler{Engine: a.fh, Logger: log.With("component", "firehose")}
	return nil
}

// openArchive starts the video archive when archive.bucket is set (Validate
// has checked that s3.endpoint is): it reconciles the index with the
// bucket on the "a/" space, is woken by every stored fragment, and holds
// the storage budget's eviction to what it has uploaded.
func (a *appliance) openArchive(cfg *Config, keyring *seal.Keyring, log *slog.Logger) error {
	if cfg.Archive.Bucket == "" {
		return nil
	}
	space, err := a.db.Space("a/")
	if err != nil {
		return err
	}
	bucket, err := archive.NewS3Bucket(cfg.s3(), cfg.Archive.Bucket)
	if err != nil {
		return err
	}
	window, err := archive.ParseWindows(cfg.Archive.UploadWindow)
	if err != nil {
		return err
	}
	// Before anything records: number past the fragments archived under
	// this appliance id (a replacement appliance), from the clock if the
	// bucket cannot be read now (see firehose/archive's doc).
	a.seeder = &archive.Seeder{Archive: &archive.Remote{Bucket: bucket, Prefix: cfg.Archive.Prefix, ApplianceID: cfg.ApplianceID},
		Index: a.idx, Logger: log.With("component", "archive")}
	if err := a.seeder.Start(context.Background()); err != nil {
		return err
	}
	priority, err := archive.ParsePriority(cfg.Archive.Priority)
	if err != nil {
		return err
	}
	a.archive = &archive.Archiver{
		Priority: priority, Window: window, BandwidthLimit: int64(cfg.Archive.BandwidthLimit), ManifestInterval: archive.DefaultManifestInterval,
		Index: a.idx, Space: space, Bucket: bucket, Keys: a.idx.Keys(), Opener: keyring,
		Sealed: cfg.Archive.Sealed, ApplianceID: cfg.ApplianceID, Prefix: cfg.Archive.Prefix,
		// The recording clock: a fragment recorded on a board that
		// started at 1970 waits (up to archive.DefaultUnsyncedGrace) for
		// the clock to be set, to go up at its real time.
		Now: a.clock.tl.Now, ClockHold: a.clock.archiveHold,
		Logger: log.With("component", "archive"),
	}
	a.archiveLagLimit = archiveLagDegraded
	if cfg.Archive.UploadWindow != "" {
		a.archiveLagLimit = archiveLagDegradedWindow
	}
	if err := a.archive.Start(); err != nil {
		return err
	}
	a.idx.SetEvictionHold(a.archive.ArchivedThrough)
	// Shredding reaches the bucket: a destroyed data key's archived copy
	// is tombstoned and deleted (see firehose/archive's doc).
	a.idx.OnKeysDestroyed(func(ids ...string) {
		keyring.Forget(ids...)
		a.archive.KeysDestroyed(ids...)
	})
	// Tiered replay: what is not local is fetched from the bucket (a
	// replacement appliance's whole history), sealed or playable MKV.
	a.tier = newTier(bucket, cfg, seal.MasterKeys{Active: keyring.Master, Retired: keyring.Retired}, a.archive)
	if prev := a.sources.OnStored; prev != nil {
		a.sources.OnStored = func(f index.Fragment) {
			prev(f)
			a.archive.Notify(f)
		}
	} else {
		a.sources.OnStored = a.archive.Notify
	}
	log.Info("video archive on", "endpoint", cfg.S3.Endpoint, "bucket", cfg.Archive.Bucket, "prefix", cfg.Archive.Prefix, "sealed", cfg.Archive.Sealed,
		"upload_window", cfg.Archive.UploadWindow, "bandwidth_limit", cfg.Archive.BandwidthLimit, "priority", priority)
	return nil
}

// kinesisLimits returns AWS's per-shard limits, or none.
func kinesisLimits(on bool) engine.Limits {
	l := engine.DefaultLimits()
	l.Enabled = on
	return l
}

// publishAuth returns the RTSP publish credentials of the contract: any
// user (by access key id or name, its secret as the password; the publish
// user and pass among them) with publish on the stream, or anyone with
// anonymous_publish.
func publishAuth(cfg *Config, users *authz.Store) rtsp.Authenticator {
	if cfg.AnonymousPublish {
		return func(string) rtsp.Credentials { return rtsp.Credentials{Anonymous: true} }
	}
	return rtspUsers(users, authz.Publish)
}

// readAuth returns the credentials of live players over RTSP: any user
// (the admin access key and secret key among them) with read on the
// stream, or none with anonymous_read.
func readAuth(cfg *Config, users *authz.Store) rtsp.Authenticator {
	if cfg.AnonymousRead {
		return func(string) rtsp.Credentials { return rtsp.Credentials{Anonymous: true} }
	}
	return rtspUsers(users, authz.Read)
}

// rtspUsers is an rtsp.Authenticator over the users for action.
func rtspUsers(users *authz.Store, action authz.Action) rtsp.Authenticator {
	return func(stream string) rtsp.Credentials {
		return rtsp.Credentials{Users: func(name string) (string, bool, bool) {
			u, ok := users.ByAccessKey(name)
			if !ok {
				u, ok = users.ByName(name)
			}
			return u.Secret, ok && u.Can(action, stream), ok
		}}
	}
}

// close stops intake first (RTSP: each session's open fragment is
// finished and stored), then the HTTP server, then the fragment events,
// the data streams and the database. It reports every error.
func (a *appliance) close() error {
	var errs []error
	if err := a.notifier.Notify(sdnotify.Stopping); err != nil && !errors.Is(err, sdnotify.ErrNoSocket) {
		a.log.Warn("systemd notification failed", "err", err)
	}
	if a.stopWatchdog != nil {
		close(a.stopWatchdog)
		<-a.watchdogDone
		a.stopWatchdog = nil
	}
	if a.clock != nil {
		a.clock.stop()
	}
	if a.whip != nil {
		a.whip.Close() // every WHIP publisher: its last fragment is stored
	}
	if a.sources != nil {
		a.sources.Close() // pullers, then each session's last fragment
	}
	if a.rtsp != nil {
		a.rtsp.Close()
	}
	if a.whep != nil {
		a.whep.Close() // every live viewer's peer connection, before their UDP port
	}
	if a.live != nil {
		a.live.Close()
	}
	if a.rtcNet != nil {
		if err := a.rtcNet.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.kinesis != nil {
		a.kinesis.Close() // ends SubscribeToShard streams, which HTTP shutdown would wait for
	}
	if a.http != nil {
		a.closeHTTP()
	} else {
		for _, ln := range []net.Listener{a.httpLn, a.httpsLn} {
			if ln != nil {
				ln.Close()
			}
		}
	}
	if a.debug != nil {
		a.debug.Close()
	}
	if a.events != nil {
		a.events.Close() // after the recorders: their last events are queued
	}
	if a.seeder != nil {
		a.seeder.Close()
	}
	if a.upstreams != nil {
		a.upstreams.Close() // a session in flight is abandoned: it is after the cursor, sent again at the next start
	}
	if a.archive != nil {
		a.idx.SetEvictionHold(nil)
		a.archive.Close() // an upload in flight is abandoned: it is after the cursor, redone at the next start
	}
	if a.fh != nil {
		if err := a.fh.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.streams != nil {
		if err := a.streams.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.idx != nil {
		if err := a.idx.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// webHandler returns the web page's handler, whose Guard admits the admin
// (HTTP Basic), a logged-in session, a media token on its media routes,
// and with anonymous_read any GET or HEAD. Media tokens are signed with a
// random key per process: a restart only makes open pages fetch new ones.
func webHandler(cfg *Config, log *slog.Logger) (*web.Handler, error) {
	tokens, err := mediatoken.NewRandom()
	if err != nil {
		return nil, err
	}
	tokens.Now = tokenClock()
	return &web.Handler{AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, AnonymousRead: cfg.AnonymousRead,
		Sessions: &web.Sessions{}, Tokens: tokens, Logger: log}, nil
}

// authLimiter is the failed-authentication brake of auth_failures
// (max 0: off).
func authLimiter(cfg *Config, log *slog.Logger) *authlimit.Limiter {
	l := &authlimit.Limiter{MaxFailures: cfg.AuthFailures.Max, Window: cfg.AuthFailures.Window,
		MaxBackoff: cfg.AuthFailures.MaxBackoff, Logger: log}
	if l.MaxFailures == 0 {
		l.MaxFailures = -1
	}
	return l
}

// indexStreams tells WHEP which video streams exist.
type indexStreams struct{ idx *index.Index }

func (s indexStreams) StreamExists(ctx context.Context, name string) (bool, error) {
	_, err := s.idx.Stream(ctx, name)
	if errors.Is(err, index.ErrStreamNotFound) {
		return false, nil
	}
	return err == nil, err
}

// loopbackAddr reports whether a listen address is on a loopback IP.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
