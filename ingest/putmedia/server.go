package putmedia

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/ingest/media"
)

// Defaults of the Server fields.
const (
	// DefaultMaxTracks is KVS's limit of tracks in a PutMedia stream.
	DefaultMaxTracks = 3
	// DefaultMaxFragmentSize is KVS's limit of a fragment (cluster): 50 MB.
	DefaultMaxFragmentSize = 50 << 20
	// DefaultMaxFragmentDuration is KVS's limit of a cluster's span: 10 s.
	DefaultMaxFragmentDuration = 10 * time.Second
	// DefaultIdleInterval is how long a session stays silent before an
	// IDLE ack.
	DefaultIdleInterval = 3 * time.Second
	// DefaultReadTimeout is how long the body may stall.
	DefaultReadTimeout = 30 * time.Second
	// DefaultInFlightBytes bounds the media received but not yet
	// persisted before the session stops reading the body.
	DefaultInFlightBytes = 8 << 20
	// maxElementSize bounds every buffered MKV element (a block, the
	// Tracks): KVS's fragment limit.
	maxElementSize = DefaultMaxFragmentSize
)

// Publisher starts recording a PutMedia session's frames: the same path
// as RTSP publishers (cmd/kinedge adapts sources.Manager). It returns
// ErrStreamNotFound, ErrStreamBusy or ErrUnavailable (wrapped or not) for
// the refusals the producer must see as such.
type Publisher interface {
	Publish(req *PublishRequest) (media.Writer, error)
}

// PublishRequest describes a PutMedia session to the Publisher.
type PublishRequest struct {
	// Stream is the video stream's name.
	Stream string
	// Tracks are the session's tracks, from the MKV Tracks element.
	Tracks []*media.Track
	// RemoteAddr is the producer's address.
	RemoteAddr string
	// Kick ends the session (a takeover, a shutdown, a storage refusal).
	// It returns at once; the Writer is closed afterwards.
	Kick func(reason string)
}

// Stats counts what the Server did; safe to read concurrently.
type Stats struct {
	// Sessions is the number of PutMedia sessions now open.
	Sessions atomic.Int64
	// Fragments counts clusters acknowledged PERSISTED.
	Fragments atomic.Uint64

	mu     sync.Mutex
	errors map[ErrorID]uint64
}

// Errors returns the ERROR acks sent, by ErrorId.
func (s *Stats) Errors() map[ErrorID]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[ErrorID]uint64, len(s.errors))
	for k, v := range s.errors {
		out[k] = v
	}
	return out
}

func (s *Stats) countError(id ErrorID) {
	s.mu.Lock()
	if s.errors == nil {
		s.errors = map[ErrorID]uint64{}
	}
	s.errors[id]++
	s.mu.Unlock()
}

// Server serves KVS PutMedia (POST /putMedia). Set the exported fields,
// then mount it; they must not change afterwards. See the package comment
// for the session's life.
type Server struct {
	// Publisher records the sessions. Required.
	Publisher Publisher
	// MaxTracks is the most tracks a session may have. It defaults to
	// DefaultMaxTracks.
	MaxTracks int
	// MaxFragmentSize and MaxFragmentDuration bound a cluster. They
	// default to DefaultMaxFragmentSize and DefaultMaxFragmentDuration.
	MaxFragmentSize     int64
	MaxFragmentDuration time.Duration
	// MaxConnectionDuration, when positive, bounds a session: the first
	// cluster that starts after it has elapsed (Now, from the request)
	// gets ERROR 4003 MAX_CONNECTION_DURATION_REACHED and the session
	// ends there, as KVS ends a connection past its limit (the producer
	// reconnects and sends that cluster again). Zero: no limit.
	MaxConnectionDuration time.Duration
	// RequireAllTracks applies KVS's rule that every cluster holds
	// frames of every track of the Tracks: a cluster without a block of
	// some track gets ERROR 4011 FRAMES_MISSING_FOR_TRACK at its end
	// instead of RECEIVED (its frames, passed to the recorder as they
	// came, stay recorded). Off by default: kinedge records such
	// clusters (a camera's silent audio track).
	RequireAllTracks bool
	// IdleInterval is the silence after which an IDLE ack is sent. It
	// defaults to DefaultIdleInterval.
	IdleInterval time.Duration
	// ReadTimeout is how long a read of the body may wait for data. It
	// defaults to DefaultReadTimeout.
	ReadTimeout time.Duration
	// InFlightBytes bounds the media received and not yet persisted: the
	// session stops reading the body (TCP pushes back on the producer)
	// until fragments are stored. It defaults to DefaultInFlightBytes.
	InFlightBytes int64
	// Now is the server clock (RELATIVE timecodes without a producer
	// start timestamp). It defaults to time.Now.
	Now func() time.Time
	// NewTicker returns the ticker of IDLE acks and in-flight waits and
	// its stop function. It defaults to time.NewTicker.
	NewTicker func(d time.Duration) (<-chan time.Time, func())
	// Logger receives the sessions' log lines. It defaults to
	// discarding.
	Logger *slog.Logger

	stats Stats
	once  sync.Once

	mu       sync.Mutex
	sessions map[string]*session // video stream → its PutMedia session
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

func (s *Server) defaults() {
	s.once.Do(func() {
		if s.MaxTracks <= 0 {
			s.MaxTracks = DefaultMaxTracks
		}
		if s.MaxFragmentSize <= 0 {
			s.MaxFragmentSize = DefaultMaxFragmentSize
		}
		if s.MaxFragmentDuration <= 0 {
			s.MaxFragmentDuration = DefaultMaxFragmentDuration
		}
		if s.IdleInterval <= 0 {
			s.IdleInterval = DefaultIdleInterval
		}
		if s.ReadTimeout <= 0 {
			s.ReadTimeout = DefaultReadTimeout
		}
		if s.InFlightBytes <= 0 {
			s.InFlightBytes = DefaultInFlightBytes
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.NewTicker == nil {
			s.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
				t := time.NewTicker(d)
				return t.C, t.Stop
			}
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		s.sessions = map[string]*session{}
	})
}

// Stored tells the server that a fragment of stream is durable: number is
// its fragment number, producerEnd its producer time plus its duration.
// The session that recorded it acknowledges the clusters it holds
// PERSISTED. It never blocks (it is called on the recorder's goroutine).
func (s *Server) Stored(stream string, number uint64, producerEnd time.Time) {
	s.defaults()
	s.mu.Lock()
	sess := s.sessions[stream]
	s.mu.Unlock()
	if sess != nil {
		sess.stored(number, producerEnd)
	}
}

// Timecode types of x-amzn-fragment-timecode-type.
const (
	TimecodeAbsolute = "ABSOLUTE"
	TimecodeRelative = "RELATIVE"
)

// params are a request's PutMedia headers.
type params struct {
	stream        string
	absolute      bool
	producerStart time.Time
	ackRequired   bool
}

// parseParams reads the PutMedia headers (KVS API reference, PutMedia
// "Request Syntax").
func parseParams(h http.Header) (params, error) {
	var p params
	name, arn := h.Get("X-Amzn-Stream-Name"), h.Get("X-Amzn-Stream-Arn")
	switch {
	case name != "" && arn != "":
		return p, invalidArg("Specify either x-amzn-stream-name or x-amzn-stream-arn, not both.")
	case name != "":
		p.stream = name
	case arn != "":
		n, ok := streamFromARN(arn)
		if !ok {
			return p, invalidArg("x-amzn-stream-arn %q is not a Kinesis video stream ARN.", arn)
		}
		p.stream = n
	default:
		return p, invalidArg("Either x-amzn-stream-name or x-amzn-stream-arn is required.")
	}
	if len(p.stream) > 256 {
		return p, invalidArg("The stream name is longer than 256 characters.")
	}
	switch tc := h.Get("X-Amzn-Fragment-Timecode-Type"); tc {
	case TimecodeAbsolute:
		p.absolute = true
	case TimecodeRelative:
	case "":
		return p, invalidArg("x-amzn-fragment-timecode-type is required: ABSOLUTE or RELATIVE.")
	default:
		return p, invalidArg("x-amzn-fragment-timecode-type %q must be ABSOLUTE or RELATIVE.", tc)
	}
	if v := h.Get("X-Amzn-Producer-Start-Timestamp"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
			return p, invalidArg("x-amzn-producer-start-timestamp %q must be seconds since the epoch.", v)
		}
		sec, frac := math.Modf(f)
		p.producerStart = time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
	}
	p.ackRequired = true
	if v := h.Get("X-Amzn-Fragment-Acknowledgment-Required"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return p, invalidArg("x-amzn-fragment-acknowledgment-required %q must be 1, 0, true or false.", v)
		}
		p.ackRequired = b
	}
	return p, nil
}

// streamFromARN returns the stream name of
// arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation time>.
func streamFromARN(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kinesisvideo" {
		return "", false
	}
	rest, ok := strings.CutPrefix(parts[5], "stream/")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	return name, name != ""
}

func invalidArg(format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Type: awsproto.InvalidArgumentException, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// httpError maps a Publisher refusal to KVS's error.
func httpError(err error) error {
	switch {
	case errors.Is(err, ErrStreamNotFound):
		return &awsproto.Error{Type: awsproto.ResourceNotFoundException, Message: "The requested stream is not found or not active.", Status: http.StatusNotFound}
	case errors.Is(err, ErrStreamBusy):
		return &awsproto.Error{Type: awsproto.ResourceInUseException, Message: "Another producer is sending to the stream.", Status: http.StatusBadRequest}
	case errors.Is(err, ErrUnavailable):
		return &awsproto.Error{Type: awsproto.ServiceUnavailableException, Message: err.Error(), Status: http.StatusServiceUnavailable}
	case errors.Is(err, ErrUnsupportedCodec), errors.Is(err, ErrInvalidCodecPrivate):
		return invalidArg("%s", err.Error())
	}
	return err
}
