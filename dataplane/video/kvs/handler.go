package kvs

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/video/hls"
	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/dataplane/video/thumbnail"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/streamname"
)

// maxBody bounds a request body (awsproto.ReadBody; behind Middleware the
// bytes are already read). KVS control-plane requests are small: 50 tags
// of 128 + 256 characters are under 64 KiB.
const maxBody = 1 << 20

// contentType is the Content-Type of restJson1 responses.
const contentType = "application/json"

// Handler serves the KVS control-plane operations, ListFragments and the
// media read operations over an index. Set Index (and Opener for the
// media operations); the other fields are optional. A Handler holds no
// goroutines; its only state is the per-stream GetMedia call limiter. Its
// methods are safe for concurrent use; do not copy a Handler after first
// use.
type Handler struct {
	// Index holds the video streams and their fragments. Required.
	Index *index.Index
	// Logger receives failures the client sees only as InternalFailure.
	// It defaults to discarding.
	Logger *slog.Logger
	// DefaultRetentionHours is the retention of a stream created without
	// DataRetentionInHours. It defaults to index.DefaultRetentionHours (24).
	DefaultRetentionHours int
	// DataEndpoint, if set, is the URL getDataEndpoint returns (e.g.
	// "https://kinedge.example:8443" behind a TLS proxy). It defaults to
	// the URL the client used: the connection's scheme and the Host header.
	DataEndpoint string
	// Opener decrypts sealed fragments for getMedia,
	// getMediaForFragmentList and getClip (the appliance's keyring).
	// Without it they answer InternalFailure.
	Opener replay.Opener
	// Thumbnails decodes frames into pictures for getImages (shared with
	// the web page's pictures: one cache, one bound on decoders). Without
	// it, or without ffmpeg, getImages answers NotImplemented (501).
	Thumbnails *thumbnail.Maker
	// ExtraDataAPIs names the GetDataEndpoint APIName values served by
	// other handlers on the same endpoint (e.g. "PUT_MEDIA" once PutMedia
	// is mounted); the ones this Handler serves (GET_MEDIA,
	// LIST_FRAGMENTS, GET_MEDIA_FOR_FRAGMENT_LIST, GET_CLIP, GET_IMAGES,
	// GET_HLS_STREAMING_SESSION_URL) need not be
	// listed. getDataEndpoint refuses the others.
	ExtraDataAPIs []string
	// GetMediaCallsPerSecond is how many getMedia calls a stream takes
	// per second (a token bucket of as many); more get
	// ClientLimitExceededException. It defaults to
	// DefaultGetMediaCallsPerSecond (5, KVS's quota); negative turns the
	// limit off.
	GetMediaCallsPerSecond float64
	// GetMediaBytesPerSecond is the rate a getMedia session is held to.
	// It defaults to DefaultGetMediaBytesPerSecond (25 MB/s, KVS's
	// quota); negative turns the limit off.
	GetMediaBytesPerSecond int64
	// GetMediaIdle is how long a getMedia session that has caught up
	// waits for a new fragment before it ends with the continuation
	// token. It defaults to DefaultGetMediaIdle (10 s).
	GetMediaIdle time.Duration
	// Now is the clock of MILLIS_BEHIND_NOW and the call limiter. It
	// defaults to time.Now.
	Now func() time.Time

	// HLSSigner signs the tokens of HLS sessions
	// (getHLSStreamingSessionURL). It defaults to a random key per
	// Handler, so a restart ends every session.
	HLSSigner *hls.Signer
	// Visible reports whether listStreams shows stream name to the
	// caller of ctx (the appliance lists a user only the streams it holds
	// a grant on). It defaults to showing every stream.
	Visible func(ctx context.Context, name string) bool

	limiter  callLimiter
	counters mediaCounters
	walks    walks // where each HLS and DASH session's walk ended
	hlsOnce  sync.Once
	hlsKeys  *hls.Signer
	hlsErr   error
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *Handler) getMediaCalls() float64 {
	switch {
	case h.GetMediaCallsPerSecond == 0:
		return DefaultGetMediaCallsPerSecond
	case h.GetMediaCallsPerSecond < 0:
		return math.Inf(1)
	}
	return h.GetMediaCallsPerSecond
}

func (h *Handler) getMediaBytes() int64 {
	switch {
	case h.GetMediaBytesPerSecond == 0:
		return DefaultGetMediaBytesPerSecond
	case h.GetMediaBytesPerSecond < 0:
		return 0
	}
	return h.GetMediaBytesPerSecond
}

func (h *Handler) getMediaIdle() time.Duration {
	if h.GetMediaIdle <= 0 {
		return DefaultGetMediaIdle
	}
	return h.GetMediaIdle
}

// Operation paths, as in the KVS API reference ("POST /createStream").
const (
	PathCreateStream        = "/createStream"
	PathDescribeStream      = "/describeStream"
	PathListStreams         = "/listStreams"
	PathDeleteStream        = "/deleteStream"
	PathUpdateStream        = "/updateStream"
	PathUpdateDataRetention = "/updateDataRetention"
	PathGetDataEndpoint     = "/getDataEndpoint"
	PathTagStream           = "/tagStream"
	PathUntagStream         = "/untagStream"
	PathListTagsForStream   = "/listTagsForStream"
	PathListFragments       = "/listFragments"
	// The media read operations (Kinesis Video Streams Media and
	// Archived Media).
	PathGetMedia                = "/getMedia"
	PathGetMediaForFragmentList = "/getMediaForFragmentList"
	PathGetClip                 = "/getClip"
	PathGetImages               = "/getImages"
)

// Paths returns the path of every operation Register mounts.
func Paths() []string {
	return []string{PathCreateStream, PathDescribeStream, PathListStreams, PathDeleteStream,
		PathUpdateStream, PathUpdateDataRetention, PathGetDataEndpoint, PathTagStream,
		PathUntagStream, PathListTagsForStream, PathListFragments,
		PathGetMedia, PathGetMediaForFragmentList, PathGetClip, PathGetImages,
		PathGetHLSStreamingSessionURL, PathGetDASHStreamingSessionURL}
}

// Register mounts "POST <path>" for every operation on mux, each handler
// wrapped by wrap (the appliance passes awsproto.Middleware with its
// SigV4 Verifier). A nil wrap mounts the handlers as they are.
func (h *Handler) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	if wrap == nil {
		wrap = func(next http.Handler) http.Handler { return next }
	}
	ops := h.operations()
	for _, p := range Paths() {
		mux.Handle(http.MethodPost+" "+p, wrap(ops[p]))
	}
}

// operations returns the handler of every operation, by path.
func (h *Handler) operations() map[string]http.Handler {
	return map[string]http.Handler{
		PathCreateStream:        serve(h, PathCreateStream, h.createStream),
		PathDescribeStream:      serve(h, PathDescribeStream, h.describeStream),
		PathListStreams:         serve(h, PathListStreams, h.listStreams),
		PathDeleteStream:        serve(h, PathDeleteStream, h.deleteStream),
		PathUpdateStream:        serve(h, PathUpdateStream, h.updateStream),
		PathUpdateDataRetention: serve(h, PathUpdateDataRetention, h.updateDataRetention),
		PathGetDataEndpoint:     serve(h, PathGetDataEndpoint, h.getDataEndpoint),
		PathTagStream:           serve(h, PathTagStream, h.tagStream),
		PathUntagStream:         serve(h, PathUntagStream, h.untagStream),
		PathListTagsForStream:   serve(h, PathListTagsForStream, h.listTagsForStream),
		PathListFragments:       serve(h, PathListFragments, h.listFragments),

		PathGetMedia:                   serveMedia(h, PathGetMedia, h.getMedia),
		PathGetMediaForFragmentList:    serveMedia(h, PathGetMediaForFragmentList, h.getMediaForFragmentList),
		PathGetClip:                    serveMedia(h, PathGetClip, h.getClip),
		PathGetImages:                  serve(h, PathGetImages, h.getImages),
		PathGetHLSStreamingSessionURL:  serve(h, PathGetHLSStreamingSessionURL, h.getHLSStreamingSessionURL),
		PathGetDASHStreamingSessionURL: serve(h, PathGetDASHStreamingSessionURL, h.getDASHStreamingSessionURL),
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// serve returns the http.Handler of one operation, in awsproto.Operation's
// shape: it reads the body, decodes it as In, calls fn, and writes fn's
// output or error as restJson1. The operations check their input first
// thing in fn, since what they check is what they compute with.
func serve[In any](h *Handler, path string, fn func(ctx context.Context, r *http.Request, in *In) (any, error)) http.Handler {
	op := awsproto.Operation(nil, fn)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := awsproto.RequestID(r.Context())
		var (
			body []byte
			out  any
			err  error
		)
		if h.Index == nil {
			err = ErrNoIndex
		} else if body, err = awsproto.ReadBody(r, maxBody); err == nil {
			out, err = op(r.Context(), r, awsproto.JSON, body)
		}
		if err != nil {
			e, known := awsError(err)
			if !known {
				h.logger().Error("kvs request failed", "op", path, "request_id", reqID, "err", err)
			}
			writeError(w, reqID, e)
			return
		}
		writeJSON(w, reqID, http.StatusOK, out)
	})
}

// writeJSON writes a restJson1 response.
func writeJSON(w http.ResponseWriter, reqID string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, reqID, errorf(awsproto.InternalFailure, "An internal error occurred."))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	hd.Set(awsproto.HeaderRequestID, reqID)
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client went away: nothing more to do
}

// errorBody is a restJson1 error document: aws-sdk-go-v2 (restjson
// GetErrorInfo) reads "__type" when X-Amzn-ErrorType is absent, and
// "message".
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

// writeError writes e as KVS does: its status, X-Amzn-ErrorType and the
// JSON error document.
func writeError(w http.ResponseWriter, reqID string, e *awsproto.Error) {
	w.Header().Set(awsproto.HeaderErrorType, e.Type+":")
	writeJSON(w, reqID, e.HTTPStatus(), errorBody{Type: e.Type, Message: e.Message})
}

// resolve returns the stream named by a request's StreamName or StreamARN.
// When both are given they must name the same stream; an ARN must be the
// stream's current one (a stream created again under the same name has a
// new ARN).
func (h *Handler) resolve(ctx context.Context, name, arn string) (index.Stream, error) {
	if name == "" && arn == "" {
		return index.Stream{}, errorf(awsproto.InvalidArgumentException, "Either StreamName or StreamARN must be specified.")
	}
	arnName, err := checkStreamRef(name, arn)
	if err != nil {
		return index.Stream{}, err
	}
	if arnName != "" {
		name = arnName
	}
	st, err := h.Index.Stream(ctx, name)
	if err != nil {
		return index.Stream{}, err
	}
	if arn != "" && st.ARN != arn {
		return index.Stream{}, notFound()
	}
	return st, nil
}

// checkStreamRef validates a StreamName and StreamARN, either of which may
// be empty, and returns the stream name the ARN holds ("" without ARN).
func checkStreamRef(name, arn string) (string, error) {
	var c checker
	if name != "" {
		c.name("streamName", name)
	}
	arnName := ""
	if arn != "" {
		var ok bool
		if arnName, ok = parseStreamARN(arn); !ok {
			c.fail("streamARN", arn, "Member must satisfy regular expression pattern: arn:[a-z\\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+")
		}
	}
	if err := c.err(); err != nil {
		return "", err
	}
	if name != "" && arnName != "" && name != arnName {
		return "", errorf(awsproto.InvalidArgumentException, "StreamName %s and StreamARN %s name different streams.", name, arn)
	}
	return arnName, nil
}

// parseStreamARN returns the stream name of a KVS stream ARN,
// arn:<partition>:kinesisvideo:<region>:<account>:stream/<name>/<creation-ms>.
func parseStreamARN(arn string) (string, bool) {
	if len(arn) > maxARNLen {
		return "", false
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "kinesisvideo" {
		return "", false
	}
	res := strings.Split(parts[5], "/")
	if len(res) != 3 || res[0] != "stream" || !streamname.Valid(res[1]) || res[2] == "" {
		return "", false
	}
	for i := 0; i < len(res[2]); i++ {
		if res[2][i] < '0' || res[2][i] > '9' {
			return "", false
		}
	}
	return res[1], true
}
