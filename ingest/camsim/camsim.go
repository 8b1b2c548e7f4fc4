package camsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Pacing selects how cameras are paced in real time.
type Pacing int

const (
	// PacingShared runs one scheduler goroutine for all cameras: it sleeps
	// until the earliest frame due and then sends every frame due within
	// SendAhead across all cameras. It is the default: at 64 cameras it wakes
	// up far less often than per-camera timers (see the package README).
	PacingShared Pacing = iota
	// PacingPerCamera runs one pacing goroutine per camera, each with its
	// own timer.
	PacingPerCamera
)

// String returns "shared" or "per-camera".
func (p Pacing) String() string {
	switch p {
	case PacingShared:
		return "shared"
	case PacingPerCamera:
		return "per-camera"
	}
	return fmt.Sprintf("pacing(%d)", int(p))
}

// Transports accepted by Config.Transport (RFC 2326 §12.39: RTP/AVP/TCP
// interleaved or RTP/AVP over UDP).
const (
	TransportTCP = "tcp"
	TransportUDP = "udp"
)

// Defaults of Config.
const (
	DefaultPrefix       = "cam"
	DefaultSendAhead    = 2 * time.Millisecond
	DefaultBackoffMin   = 250 * time.Millisecond
	DefaultBackoffMax   = 5 * time.Second
	DefaultWriteQueue   = 1024
	defaultStaggerLimit = time.Second
)

// Config configures a simulation. The zero value of every optional field
// picks its documented default.
type Config struct {
	// URL is the base RTSP URL, e.g. "rtsp://user:pass@127.0.0.1:8554/".
	// Credentials in it are used for RTSP basic/digest authentication.
	// Camera i (1-based) publishes to URL + Prefix + i.
	URL string
	// Cameras is the number of cameras. It defaults to 1.
	Cameras int
	// Prefix of the stream names. It defaults to "cam".
	Prefix string
	// Transport is "tcp" (RTP interleaved in the RTSP connection) or "udp".
	// It defaults to "tcp".
	Transport string

	// Clip is the path of the MPEG-TS clip to publish. ClipData, when not
	// empty, is used instead (the bytes of an MPEG-TS clip). Source, when not
	// nil, wins over both (a clip already loaded, shared between runs).
	Clip     string
	ClipData []byte
	Source   *Clip

	// Duration is how much media time each camera publishes; 0 runs until
	// the context is done.
	Duration time.Duration
	// Stagger is the delay between the start of camera i and camera i+1.
	// It defaults to the clip's keyframe interval (at most 1 s) divided by
	// Cameras, which spreads the keyframes of all cameras over one GOP.
	// Set it negative to start every camera at once.
	Stagger time.Duration
	// Pacing selects the scheduler. It defaults to PacingShared.
	Pacing Pacing
	// SendAhead lets a wake-up also send the frames due within this window,
	// so that frames of many cameras due close together share one wake-up.
	// It defaults to 2 ms; set it negative for none.
	SendAhead time.Duration
	// BackoffMin and BackoffMax bound the exponential backoff between
	// connection attempts. They default to 250 ms and 5 s.
	BackoffMin, BackoffMax time.Duration
	// WriteQueueSize is the per-camera queue of outgoing RTP packets of
	// gortsplib's Client, a power of two. It defaults to 1024 (gortsplib's
	// own 256 overflows on 1080p keyframes when the server stalls briefly);
	// a full queue drops the rest of the frame and the camera waits for the
	// next keyframe.
	WriteQueueSize int

	// Logger receives connection events. It defaults to discarding them.
	Logger *slog.Logger
	// Now is the clock: frame due times, RTCP sender report NTP times. It
	// defaults to time.Now.
	Now func() time.Time
}

// CameraStats is what one camera did.
type CameraStats struct {
	// Path is the stream name the camera publishes to (Prefix + index).
	Path string
	// Frames sent (all tracks), of which VideoFrames, AudioFrames and
	// Keyframes (video keyframes).
	Frames, VideoFrames, AudioFrames, Keyframes int64
	// Packets and Bytes of RTP sent (Bytes counts RTP payloads).
	Packets, Bytes int64
	// Dropped frames: due while the camera was disconnected, waiting for a
	// keyframe after (re)connecting, or refused by a full write queue.
	Dropped int64
	// Connects counts successful RECORD sessions; Reconnects the ones after
	// the first; Failures the attempts that failed.
	Connects, Reconnects, Failures int64
	// Loops counts completed passes over the clip.
	Loops int64
	// MediaTime is the camera's media timeline covered so far: the end of
	// the last frame that came due (sent or dropped), from the camera's start.
	MediaTime time.Duration
	// MaxLate is the longest a frame went out after its due time: the
	// pacer's own delay (scheduling, CPU starvation), not the network's.
	MaxLate time.Duration
	// LastError is the last connection error, empty if none.
	LastError string
}

// Stats is the result of a run.
type Stats struct {
	// Cameras, in camera order.
	Cameras []CameraStats
	// Elapsed is the wall-clock time of the run.
	Elapsed time.Duration
	// Pacing used.
	Pacing Pacing
}

// Total sums the counters of all cameras and takes the largest MaxLate
// (Path, MediaTime and LastError are left empty).
func (s Stats) Total() CameraStats {
	var t CameraStats
	for _, c := range s.Cameras {
		t.Frames += c.Frames
		t.VideoFrames += c.VideoFrames
		t.AudioFrames += c.AudioFrames
		t.Keyframes += c.Keyframes
		t.Packets += c.Packets
		t.Bytes += c.Bytes
		t.Dropped += c.Dropped
		t.Connects += c.Connects
		t.Reconnects += c.Reconnects
		t.Failures += c.Failures
		t.Loops += c.Loops
		t.MaxLate = max(t.MaxLate, c.MaxLate)
	}
	return t
}

// validate checks the config and fills defaults; it reports every problem
// at once.
func (c *Config) validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, errors.New("URL is empty"))
	case err != nil:
		errs = append(errs, fmt.Errorf("URL: %w", err))
	case u.Scheme != "rtsp" && u.Scheme != "rtsps":
		errs = append(errs, fmt.Errorf("URL %q: scheme must be rtsp or rtsps", c.URL))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("URL %q: no host", c.URL))
	}
	if c.Cameras < 0 {
		errs = append(errs, fmt.Errorf("negative Cameras %d", c.Cameras))
	}
	if c.Cameras == 0 {
		c.Cameras = 1
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	c.Transport = strings.ToLower(c.Transport)
	if c.Transport == "" {
		c.Transport = TransportTCP
	}
	if c.Transport != TransportTCP && c.Transport != TransportUDP {
		errs = append(errs, fmt.Errorf("unknown Transport %q: want tcp or udp", c.Transport))
	}
	if c.Source == nil && c.Clip == "" && len(c.ClipData) == 0 {
		errs = append(errs, errors.New("no clip: set Clip, ClipData or Source"))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("negative Duration %v", c.Duration))
	}
	if c.Pacing != PacingShared && c.Pacing != PacingPerCamera {
		errs = append(errs, fmt.Errorf("unknown Pacing %d", int(c.Pacing)))
	}
	if c.SendAhead == 0 {
		c.SendAhead = DefaultSendAhead
	}
	if c.SendAhead < 0 {
		c.SendAhead = 0
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffMax < c.BackoffMin {
		errs = append(errs, fmt.Errorf("BackoffMax %v < BackoffMin %v", c.BackoffMax, c.BackoffMin))
	}
	if c.WriteQueueSize == 0 {
		c.WriteQueueSize = DefaultWriteQueue
	}
	if c.WriteQueueSize < 0 || c.WriteQueueSize&(c.WriteQueueSize-1) != 0 {
		errs = append(errs, fmt.Errorf("WriteQueueSize %d is not a power of two", c.WriteQueueSize))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

// Run publishes the clip from cfg.Cameras simulated cameras until every
// camera has published cfg.Duration of media, or until ctx is done. Ending
// either way is not an error. It returns what each camera sent; the error is
// an invalid config, an unusable clip, or ErrNeverConnected when no camera
// ever managed to publish (wrapping the last connection error).
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if err := cfg.validate(); err != nil {
		return Stats{}, err
	}
	clip := cfg.Source
	if clip == nil {
		var err error
		if len(cfg.ClipData) > 0 {
			clip, err = LoadClip(bytes.NewReader(cfg.ClipData))
		} else {
			clip, err = ReadClip(cfg.Clip)
		}
		if err != nil {
			return Stats{}, err
		}
	}
	stagger := cfg.Stagger
	if stagger == 0 {
		gop := min(clip.KeyframeInterval, defaultStaggerLimit)
		if gop <= 0 {
			gop = min(clip.Period, defaultStaggerLimit)
		}
		stagger = gop / time.Duration(cfg.Cameras)
	}
	stagger = max(stagger, 0)

	base := strings.TrimSuffix(cfg.URL, "/") + "/"
	start := cfg.Now()
	cams := make([]*camera, cfg.Cameras)
	for i := range cams {
		cams[i] = newCamera(&cfg, clip, i+1, base)
	}
	cfg.Logger.Info("camsim: starting", "cameras", cfg.Cameras, "url", redact(base),
		"transport", cfg.Transport, "pacing", cfg.Pacing, "stagger", stagger,
		"clip_period", clip.Period, "duration", cfg.Duration)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range cams {
		c.ctx, c.cancel = context.WithCancel(runCtx)
		wg.Go(c.connLoop)
	}
	// The clocks start once every camera has tried to connect, so that the
	// first keyframe is not lost to connection setup. A camera that failed
	// keeps its clock running and joins at a keyframe when it gets through.
	for _, c := range cams {
		select {
		case <-c.firstTry:
		case <-runCtx.Done():
		}
	}
	t0 := cfg.Now()
	for i, c := range cams {
		c.start = t0.Add(time.Duration(i) * stagger)
	}
	switch cfg.Pacing {
	case PacingPerCamera:
		for _, c := range cams {
			wg.Go(func() { paceOne(runCtx, &cfg, c) })
		}
	default:
		wg.Go(func() { paceShared(runCtx, &cfg, cams) })
	}
	wg.Wait()

	st := Stats{Elapsed: cfg.Now().Sub(start), Pacing: cfg.Pacing}
	var lastErr error
	connected := false
	for _, c := range cams {
		cs := c.stats()
		st.Cameras = append(st.Cameras, cs)
		connected = connected || cs.Connects > 0
		if e := c.lastError(); e != nil {
			lastErr = e
		}
	}
	if !connected && lastErr != nil {
		return st, fmt.Errorf("%w: %w", ErrNeverConnected, lastErr)
	}
	return st, nil
}

// redact hides the password of a URL for logs.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
