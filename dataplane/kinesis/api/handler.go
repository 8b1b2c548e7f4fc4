// Package api serves the Amazon Kinesis Data Streams wire API
// (JSON protocol awsJson1.1 and its CBOR variant, X-Amz-Target
// "Kinesis_20131202.<Operation>", API version 2013-12-02) on top of the
// streams engine, so that the AWS SDKs, the AWS CLI and the KCL work against
// the appliance unchanged. Authentication (SigV4) is awsproto.Middleware's
// job; mount the Handler behind it.
package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
)

// TargetPrefix is the X-Amz-Target prefix of Kinesis Data Streams.
const TargetPrefix = "Kinesis_20131202."

// maxBody bounds a request body (awsproto.ReadBody; behind Middleware the
// bytes are already read): 5 MiB of records, base64-inflated, plus framing.
const maxBody = 10 << 20

// Handler serves the Kinesis API for POST / requests. Its zero value is not
// usable: set Engine. Close ends open SubscribeToShard engine.
type Handler struct {
	// Engine is the data streams engine. Required.
	Engine *engine.Engine
	// Logger receives the handler's logs. It defaults to discarding them.
	Logger *slog.Logger
	// Now returns the current time. It defaults to time.Now.
	Now func() time.Time
	// SubscriptionDuration is how long a SubscribeToShard stream lasts. It
	// defaults to 5 minutes, as in Kinesis.
	SubscriptionDuration time.Duration
	// SubscriptionPoll bounds the wait between two reads of a
	// SubscribeToShard stream when no write wakes it. It defaults to 1 s.
	SubscriptionPoll time.Duration
	// Visible reports whether ListStreams shows stream name to the
	// caller of ctx (the appliance lists a user only the streams it holds
	// a grant on). It defaults to showing every stream.
	Visible func(ctx context.Context, name string) bool

	once   sync.Once
	re     *regexps
	ops    map[string]awsproto.Op // by X-Amz-Target operation
	api    *awsproto.JSONAPI
	mu     sync.Mutex
	subs   map[string]struct{} // consumer ARN + shard → active subscription
	stop   chan struct{}
	closed bool
	wg     sync.WaitGroup
}

func (h *Handler) init() {
	h.once.Do(func() {
		h.re = compileRegexps()
		h.ops = h.operations()
		h.subs = map[string]struct{}{}
		h.stop = make(chan struct{})
		if h.Logger == nil {
			h.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		if h.Now == nil {
			h.Now = time.Now
		}
		if h.SubscriptionDuration <= 0 {
			h.SubscriptionDuration = 5 * time.Minute
		}
		if h.SubscriptionPoll <= 0 {
			h.SubscriptionPoll = time.Second
		}
		h.api = &awsproto.JSONAPI{
			Name:         "kinesis",
			TargetPrefix: TargetPrefix,
			Ops:          h.ops,
			Streams:      map[string]awsproto.StreamOp{"SubscribeToShard": h.subscribeToShard},
			MaxBody:      maxBody,
			Ready: func() error {
				if h.Engine == nil {
					return ErrNoEngine
				}
				return nil
			},
			Error:  awsError,
			Logger: h.Logger,
		}
	})
}

// Close ends every open SubscribeToShard stream and waits for them. Later
// subscriptions are refused. Close is idempotent.
func (h *Handler) Close() error {
	h.init()
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.stop)
	}
	h.mu.Unlock()
	h.wg.Wait()
	return nil
}

// Matches reports whether r is a Kinesis Data Streams request (POST with
// X-Amz-Target "Kinesis_20131202.*"), for a server that shares "/" with
// other AWS APIs (Firehose_20150804) and the web page.
func Matches(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.init()
	h.api.ServeHTTP(w, r)
}

// empty is the response of operations without output.
type empty struct{}

// resolve returns the stream name of a StreamName/StreamARN pair.
func (h *Handler) resolve(r streamRef) (string, error) {
	if r.StreamARN != nil {
		name, account, ok := parseStreamARN(*r.StreamARN)
		if !ok {
			return "", awsproto.Errorf(awsproto.InvalidArgumentException, "StreamARN %s is invalid.", *r.StreamARN)
		}
		if r.StreamName != nil && *r.StreamName != name {
			return "", awsproto.Errorf(awsproto.InvalidArgumentException, "StreamARN %s and StreamName %s do not match.", *r.StreamARN, *r.StreamName)
		}
		if account != h.Engine.AccountID() {
			return "", awsproto.Errorf(awsproto.ResourceNotFoundException, "Stream %s under account %s not found.", name, account)
		}
		return name, nil
	}
	if r.StreamName != nil {
		return *r.StreamName, nil
	}
	return "", awsproto.Errorf(awsproto.ValidationException, "Either StreamName or StreamARN should be provided.")
}

// parseStreamARN splits arn:aws:kinesis:<region>:<account>:stream/<name>.
func parseStreamARN(arn string) (name, account string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "kinesis" {
		return "", "", false
	}
	name, ok = strings.CutPrefix(parts[5], "stream/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return name, parts[4], true
}

func (h *Handler) validator() *validator { return &validator{re: h.re} }
