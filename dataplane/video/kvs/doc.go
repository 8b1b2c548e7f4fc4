// Package kvs serves the Amazon Kinesis Video Streams control plane
// (API version 2017-09-30, Smithy protocol "aws.protocols#restJson1":
// POST /<operation> with a JSON body) and the archived-media ListFragments
// operation on top of the appliance's index, so that code written against
// AWS with aws-sdk-go-v2's service/kinesisvideo (or any SDK, the AWS CLI)
// manages the appliance's video streams by changing only the endpoint.
//
// Operations (KVS API reference, "Amazon Kinesis Video Streams" actions):
//
//	POST /createStream         StreamName, DeviceName, MediaType, KmsKeyId, DataRetentionInHours, Tags → StreamARN
//	POST /describeStream       StreamName | StreamARN → StreamInfo
//	POST /listStreams          MaxResults (1-10000), NextToken, StreamNameCondition (BEGINS_WITH) → StreamInfoList, NextToken
//	POST /deleteStream         StreamARN, CurrentVersion
//	POST /updateStream         StreamName | StreamARN, CurrentVersion, DeviceName, MediaType
//	POST /updateDataRetention  StreamName | StreamARN, CurrentVersion, Operation, DataRetentionChangeInHours
//	POST /getDataEndpoint      StreamName | StreamARN, APIName → DataEndpoint
//	POST /tagStream            StreamName | StreamARN, Tags
//	POST /untagStream          StreamName | StreamARN, TagKeyList
//	POST /listTagsForStream    StreamName | StreamARN → Tags
//	POST /listFragments        (Kinesis Video Streams Archived Media) StreamName | StreamARN,
//	                           MaxResults (1-1000), NextToken, FragmentSelector → Fragments, NextToken
//
// Requests are validated as KVS validates them (stream names 1 to 256 of
// [a-zA-Z0-9_.-], retention 0 to 87600 hours, tag keys 1 to 128 and values
// 0 to 256 characters, at most 50 tags per stream). Errors are KVS's:
// the HTTP status (404 for ResourceNotFoundException, 401 for
// NotAuthorizedException and AccessDeniedException, 400 for the others),
// the type in the X-Amzn-ErrorType header ("<Type>:") and in "__type", the
// text in "message", which is how aws-sdk-go-v2's restjson deserializers
// pick the typed error. Timestamps are JSON numbers of epoch seconds.
//
// # Where the appliance differs from AWS
//
//   - A createStream without DataRetentionInHours keeps Handler's
//     DefaultRetentionHours (24 h unless set): the appliance exists to keep
//     video. An explicit 0 is KVS's "no persistence" (index.ZeroRetentionHours:
//     the index keeps a short window for live readers).
//   - KmsKeyId names the appliance's data-key line (index Stream.KeyAlias);
//     describeStream omits it when none was given (the sealing code then uses
//     the stream name), where AWS would name its managed key.
//   - getDataEndpoint returns the appliance itself, as the client reached it:
//     the scheme of the connection and the Host header (or
//     Handler.DataEndpoint when set, for an appliance behind a proxy).
//   - listTagsForStream returns every tag in one page (at most 50).
//
// # Tags
//
// Tags are kept by the index with the stream ((*index.Index).StreamTags,
// UpdateStreamTags), by stream id: a stream deleted and created again
// under the same name starts without tags, and a deleted stream's tags
// are purged with its fragments.
//
// # Wiring
//
// Register mounts every operation on a ServeMux, each wrapped by the
// SigV4 middleware:
//
//	v := &awsproto.Verifier{Secret: ..., Service: "kinesisvideo"}
//	h := &kvs.Handler{Index: idx, Logger: logger}
//	h.Register(mux, func(next http.Handler) http.Handler { return awsproto.Middleware(v, next, 0) })
package kvs
