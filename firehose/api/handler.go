// Package api serves the Amazon Data Firehose wire API (JSON protocol
// awsJson1.1, X-Amz-Target "Firehose_20150804.<Operation>") on top of the
// firehose engine, so that aws-sdk-go-v2's firehose client and the AWS CLI
// work against the appliance. Authentication (SigV4) is
// awsproto.Middleware's job; mount the Handler behind it.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/index/store"
)

// TargetPrefix is the X-Amz-Target prefix of Firehose.
const TargetPrefix = "Firehose_20150804."

// Limits of PutRecord and PutRecordBatch, as in AWS.
const (
	maxRecord       = 1000 << 10 // 1,000 KiB a record
	maxBatchRecords = 500
	maxBatchBytes   = 4 << 20 // 4 MiB a PutRecordBatch
	// maxBody bounds a request body: 4 MiB of records, base64-inflated,
	// plus framing.
	maxBody = 8 << 20
)

// ConcurrentModificationException answers an UpdateDestination whose
// CurrentDeliveryStreamVersionId is not the stream's (HTTP 400).
const ConcurrentModificationException = "ConcurrentModificationException"

// ErrNoEngine is logged when a Handler has no Engine.
var ErrNoEngine = errors.New("firehoseapi: handler has no engine")

// Handler serves the Firehose API for POST / requests. Set Engine.
type Handler struct {
	// Engine runs the delivery streams. Required.
	Engine *firehose.Engine
	// Logger receives the handler's logs. Default: discarded.
	Logger *slog.Logger

	once sync.Once
	api  *awsproto.JSONAPI
}

func (h *Handler) init() {
	h.once.Do(func() {
		if h.Logger == nil {
			h.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		ops := map[string]awsproto.Op{
			"CreateDeliveryStream":          op(checkCreate, h.create),
			"DescribeDeliveryStream":        op(checkDescribe, h.describe),
			"ListDeliveryStreams":           op(checkList, h.list),
			"DeleteDeliveryStream":          op(checkDelete, h.delete),
			"PutRecord":                     op(checkPutRecord, h.putRecord),
			"PutRecordBatch":                op(checkPutRecordBatch, h.putRecordBatch),
			"UpdateDestination":             op(checkUpdate, h.update),
			"TagDeliveryStream":             op(checkTag, h.tag),
			"UntagDeliveryStream":           op(checkUntag, h.untag),
			"ListTagsForDeliveryStream":     op(checkListTags, h.listTags),
			"StartDeliveryStreamEncryption": op(checkStartEncryption, h.startEncryption),
			"StopDeliveryStreamEncryption":  op(checkStopEncryption, h.stopEncryption),
		}
		h.api = &awsproto.JSONAPI{
			Name:         "firehose",
			TargetPrefix: TargetPrefix,
			Ops:          ops,
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

// op is awsproto.Operation with a check collecting violations.
func op[In any](check func(v *validator, in *In), call func(ctx context.Context, in *In) (any, error)) awsproto.Op {
	return awsproto.Operation(func(in *In) error {
		v := &validator{}
		check(v, in)
		return v.err()
	}, func(ctx context.Context, _ *http.Request, in *In) (any, error) { return call(ctx, in) })
}

// Matches reports whether r is a Firehose request (POST with X-Amz-Target
// "Firehose_20150804.*").
func Matches(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.init()
	h.api.ServeHTTP(w, r)
}

// awsError maps an engine or store error to the AWS error the client
// gets; known is false for errors worth logging.
func awsError(err error) (_ *awsproto.Error, known bool) {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae, true
	}
	msg := err.Error()
	var fe *firehose.Error
	if errors.As(err, &fe) {
		msg = fe.Message
	}
	switch {
	case errors.Is(err, firehose.ErrNotFound):
		return awsproto.Errorf(awsproto.ResourceNotFoundException, "%s", msg), true
	case errors.Is(err, firehose.ErrInUse):
		return awsproto.Errorf(awsproto.ResourceInUseException, "%s", msg), true
	case errors.Is(err, firehose.ErrInvalidArgument):
		return awsproto.Errorf(awsproto.InvalidArgumentException, "%s", msg), true
	case errors.Is(err, firehose.ErrConcurrentModification):
		return awsproto.Errorf(ConcurrentModificationException, "%s", msg), true
	case errors.Is(err, firehose.ErrLimitExceeded):
		return awsproto.Errorf(awsproto.LimitExceededException, "%s", msg), true
	case errors.Is(err, firehose.ErrSpoolFull):
		return awsproto.Errorf(awsproto.ServiceUnavailableException, "%s", msg), true
	case errors.Is(err, store.ErrFull), errors.Is(err, store.ErrReadOnly):
		return awsproto.Errorf(awsproto.ServiceUnavailableException, "The appliance cannot store records now: %s", store.Reason(err)), true
	case errors.Is(err, firehose.ErrClosed), errors.Is(err, store.ErrClosed):
		return awsproto.Errorf(awsproto.ServiceUnavailableException, "The service is shutting down."), true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return awsproto.Errorf(awsproto.ServiceUnavailableException, "The request was cancelled."), true
	default:
		return awsproto.Errorf(awsproto.InternalFailure, "An internal error occurred."), false
	}
}
