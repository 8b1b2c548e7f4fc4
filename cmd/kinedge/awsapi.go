package main

import (
	"log/slog"
	"net/http"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	kinesisapi "github.com/kinedge/kinedge/dataplane/kinesis/api"
	"github.com/kinedge/kinedge/dataplane/video/hls"
	"github.com/kinedge/kinedge/dataplane/video/kvs"
	"github.com/kinedge/kinedge/dataplane/video/replay"
	firehoseapi "github.com/kinedge/kinedge/firehose/api"
	"github.com/kinedge/kinedge/index"
)

// awsTargets routes the AWS JSON protocols (POST / with X-Amz-Target) to
// their handlers, behind SigV4.
func awsTargets(v *awsproto.Verifier, kinesis, firehose http.Handler) http.Handler {
	kin := awsproto.Middleware(v, kinesis, 0)
	fh := awsproto.Middleware(v, firehose, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case kinesisapi.Matches(r):
			kin.ServeHTTP(w, r)
		case firehoseapi.Matches(r):
			fh.ServeHTTP(w, r)
		default:
			target := r.Header.Get("X-Amz-Target")
			codec, err := awsproto.CodecOf(r)
			if err != nil {
				codec = awsproto.JSON
			}
			awsproto.WriteError(w, codec, awsproto.NewRequestID(), awsproto.Errorf(awsproto.UnknownOperationException,
				"X-Amz-Target %q names no service of this appliance (%s<Operation>, %s<Operation>)", target, kinesisapi.TargetPrefix, firehoseapi.TargetPrefix))
		}
	})
}

// kvsHandler returns the Kinesis Video Streams API (control plane,
// ListFragments and the media read operations) over the index, with the
// configured limits; opener decrypts fragments for the media operations.
func kvsHandler(cfg *Config, idx *index.Index, opener replay.Opener, log *slog.Logger) *kvs.Handler {
	h := &kvs.Handler{Index: idx, Opener: opener, Logger: log, DefaultRetentionHours: cfg.Video.RetentionHours,
		GetMediaCallsPerSecond: float64(cfg.KVS.GetMediaCallsPerSecond), GetMediaBytesPerSecond: cfg.KVS.GetMediaBytesPerSecond,
		GetMediaIdle: cfg.KVS.GetMediaIdle, Visible: visibleTo(kvsActions["DescribeStream"]...)}
	if now := tokenClock(); now != nil { // a test's clock of the session tokens
		if signer, err := hls.NewRandomSigner(); err == nil {
			signer.Now, h.HLSSigner = now, signer
		}
	}
	if h.GetMediaCallsPerSecond == 0 {
		h.GetMediaCallsPerSecond = -1 // off
	}
	if h.GetMediaBytesPerSecond == 0 {
		h.GetMediaBytesPerSecond = -1 // off
	}
	return h
}
