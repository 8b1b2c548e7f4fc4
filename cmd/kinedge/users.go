package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/kinedge/kinedge/dataplane/authz"
	"github.com/kinedge/kinedge/dataplane/awsproto"
)

// builtinAdmin is the name of the configured admin key pair as a user.
const builtinAdmin = "admin"

// openUsers opens the users table of the data dir, sealed by sealer, with
// the configured credentials as its first users: the admin key pair
// (admin on every stream) and the publish user (publish on every stream).
func openUsers(ctx context.Context, cfg *Config, sealer authz.Sealer, now func() time.Time) (*authz.Store, error) {
	adminName := builtinAdmin
	if cfg.PublishUser == builtinAdmin { // the camera user keeps its name
		adminName = builtinAdmin + "-key"
	}
	builtin := []authz.User{{Name: adminName, AccessKey: cfg.AccessKey, Secret: cfg.SecretKey,
		Grants: []authz.Grant{{Action: authz.Admin, Streams: "*"}}}}
	// A publish user named like the admin access key would shadow it: the
	// admin key pair is then the only user of that name.
	if !cfg.AnonymousPublish && cfg.PublishUser != "" && cfg.PublishUser != cfg.AccessKey {
		builtin = append(builtin, authz.User{Name: cfg.PublishUser, AccessKey: cfg.PublishUser, Secret: cfg.PublishPass,
			Grants: []authz.Grant{{Action: authz.Publish, Streams: "*"}}})
	}
	return authz.Open(ctx, filepath.Join(cfg.DataDir, authz.FileName), sealer, now, builtin...)
}

// usersVerifier is the SigV4 verifier of every user's access key.
func usersVerifier(users *authz.Store) *awsproto.Verifier {
	return &awsproto.Verifier{Secret: func(accessKey string) (string, bool) {
		u, ok := users.ByAccessKey(accessKey)
		return u.Secret, ok
	}}
}

// awsPermission is what an AWS operation needs: any one of actions on the
// stream. GetRecords names no stream (its iterator, signed by the engine,
// was handed out by an authorized GetShardIterator): any get-records grant.
type awsPermission struct {
	service   string // IAM service prefix: kinesis, firehose, kinesisvideo
	op        string
	actions   []authz.Action
	stream    string
	anyStream bool
	listing   bool // a ListStreams: any user, the list filtered
}

// kinesisAction, firehoseAction and kvsAction map operations to actions;
// an operation not listed needs admin.
var (
	kinesisActions = map[string][]authz.Action{
		"PutRecord": {authz.PutRecords}, "PutRecords": {authz.PutRecords},
		"GetRecords": {authz.GetRecords}, "GetShardIterator": {authz.GetRecords}, "SubscribeToShard": {authz.GetRecords},
		"RegisterStreamConsumer": {authz.GetRecords}, "DescribeStreamConsumer": {authz.GetRecords}, "ListStreamConsumers": {authz.GetRecords},
		"DescribeStream": {authz.PutRecords, authz.GetRecords}, "DescribeStreamSummary": {authz.PutRecords, authz.GetRecords},
		"ListShards": {authz.PutRecords, authz.GetRecords},
	}
	firehoseActions = map[string][]authz.Action{
		"PutRecord": {authz.Firehose}, "PutRecordBatch": {authz.Firehose}, "DescribeDeliveryStream": {authz.Firehose},
	}
	kvsActions = map[string][]authz.Action{
		"PutMedia": {authz.Publish},
		"GetMedia": {authz.Read}, "GetMediaForFragmentList": {authz.Read}, "GetClip": {authz.Read},
		"GetImages": {authz.Read}, "GetHLSStreamingSessionURL": {authz.Read}, "GetDASHStreamingSessionURL": {authz.Read},
		"ListFragments":  {authz.Read},
		"DescribeStream": {authz.Read, authz.Publish}, "GetDataEndpoint": {authz.Read, authz.Publish},
		"ListTagsForStream": {authz.Read, authz.Publish},
	}
)

// authorizeAWS refuses, with AccessDeniedException as IAM words it, the
// AWS requests whose verified user lacks the permission; it sits inside
// awsproto.Middleware (the body it reads is replayable or streamed; it
// peeks at most 64 KiB for the stream name). service is kinesis, firehose
// or kinesisvideo.
func authorizeAWS(cfg *Config, users *authz.Store, service string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := awsproto.AccessKey(r.Context())
		if key == "" { // anonymous: no verifier
			next.ServeHTTP(w, r)
			return
		}
		u, ok := users.ByAccessKey(key)
		p := awsPermissionOf(r, service)
		allowed := ok && p.listing
		if ok {
			for _, a := range p.actions {
				if p.anyStream && u.CanSome(a) || u.Can(a, p.stream) {
					allowed = true
				}
			}
		}
		if !allowed {
			codec, err := awsproto.CodecOf(r)
			if err != nil {
				codec = awsproto.JSON
			}
			resource := "*"
			if p.stream != "" {
				resource = streamARN(cfg, p.service, p.stream)
			}
			awsproto.WriteError(w, codec, awsproto.RequestID(r.Context()), awsproto.Errorf(awsproto.AccessDeniedException,
				"User: arn:aws:iam::%s:user/%s is not authorized to perform: %s:%s on resource: %s", cfg.AccountID, u.Name, p.service, p.op, resource))
			return
		}
		next.ServeHTTP(w, r.WithContext(authz.WithUser(r.Context(), u)))
	})
}

// listStreamsOps are the operations any user may call (p.listing): the
// answer lists only the streams the user holds a grant on (visibleTo),
// as GET /v1/streams does; IAM would refuse them, or list every stream,
// by the policy's kinesis:ListStreams (docs/users.md).
var listStreamsOps = map[string]bool{"kinesis ListStreams": true, "kinesisvideo ListStreams": true}

// visibleTo returns the Visible hook of a ListStreams: the caller's user
// (authz.UserFrom) sees a stream if it holds any of actions on it (admin
// included); a request without a user (anonymous access) sees all.
func visibleTo(actions ...authz.Action) func(ctx context.Context, name string) bool {
	return func(ctx context.Context, name string) bool {
		u, ok := authz.UserFrom(ctx)
		if !ok {
			return true
		}
		for _, a := range actions {
			if u.Can(a, name) {
				return true
			}
		}
		return false
	}
}

// streamARN is the ARN of a stream in the IAM message.
func streamARN(cfg *Config, service, stream string) string {
	switch service {
	case "firehose":
		return "arn:aws:firehose:" + cfg.Region + ":" + cfg.AccountID + ":deliverystream/" + stream
	case "kinesisvideo":
		return "arn:aws:kinesisvideo:" + cfg.Region + ":" + cfg.AccountID + ":stream/" + stream
	}
	return "arn:aws:kinesis:" + cfg.Region + ":" + cfg.AccountID + ":stream/" + stream
}

// awsPermissionOf reads the operation and its stream from r.
func awsPermissionOf(r *http.Request, service string) awsPermission {
	p := awsPermission{service: service}
	var table map[string][]authz.Action
	switch service {
	case "kinesisvideo":
		table = kvsActions
		p.op = strings.TrimPrefix(r.URL.Path, "/")
		if p.op != "" {
			p.op = strings.ToUpper(p.op[:1]) + p.op[1:]
		}
	case "firehose":
		table = firehoseActions
		_, p.op, _ = strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	default:
		table = kinesisActions
		_, p.op, _ = strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	}
	p.actions = table[p.op]
	if len(p.actions) == 0 {
		p.actions = []authz.Action{authz.Admin}
	}
	p.anyStream = service == "kinesis" && p.op == "GetRecords"
	p.listing = listStreamsOps[service+" "+p.op]
	if p.op == "PutMedia" {
		p.stream = r.Header.Get("X-Amzn-Stream-Name")
		if p.stream == "" {
			p.stream = streamOfARN(r.Header.Get("X-Amzn-Stream-Arn"))
		}
		return p
	}
	p.stream = streamOfBody(r)
	return p
}

// streamOfBody reads the stream a JSON or CBOR body names, leaving the
// body whole for next.
func streamOfBody(r *http.Request) string {
	if r.Body == nil {
		return ""
	}
	var head []byte
	if r.GetBody != nil { // awsproto.Middleware read the whole (bounded) body: a copy
		if rc, err := r.GetBody(); err == nil {
			head, _ = io.ReadAll(rc)
			rc.Close()
		}
	} else { // a streamed (unsigned) body: peek at its start, give it back whole
		head, _ = io.ReadAll(io.LimitReader(r.Body, 64<<10))
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	}
	var in struct {
		StreamName         string `json:"StreamName"`
		StreamARN          string `json:"StreamARN"`
		DeliveryStreamName string `json:"DeliveryStreamName"`
		ConsumerARN        string `json:"ConsumerARN"`
	}
	codec, err := awsproto.CodecOf(r)
	if err != nil {
		codec = awsproto.JSON
	}
	if awsproto.Decode(codec, head, &in) != nil { // JSON, or CBOR from the Java SDK
		return ""
	}
	switch {
	case in.StreamName != "":
		return in.StreamName
	case in.DeliveryStreamName != "":
		return in.DeliveryStreamName
	case in.StreamARN != "":
		return streamOfARN(in.StreamARN)
	}
	return streamOfARN(in.ConsumerARN)
}

// streamOfARN returns the stream name of a Kinesis or KVS stream (or
// consumer) ARN: arn:aws:<service>:<region>:<account>:stream/<name>[/…].
func streamOfARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":stream/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
