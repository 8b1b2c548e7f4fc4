// Package awsproto is the AWS wire protocol leaf of kinedge: what every
// AWS-compatible API of the appliance (Kinesis Data Streams and the Kinesis
// Video Streams control plane today; Firehose and the KVS media APIs next)
// needs to look like AWS to the AWS SDKs. It imports nothing of the app.
//
//   - Error, Errorf and WriteError: AWS error shapes. The type travels in
//     the X-Amzn-ErrorType header ("<Type>:") and the "__type" member, the
//     text in "message", as aws-sdk-go-v2 (aws/protocol/restjson
//     GetErrorInfo) and the Java SDKs (JsonErrorCodeParser) read them.
//   - Codec, CodecOf, Decode, Encode and WriteResponse: the awsJson 1.0/1.1
//     protocols (Smithy "aws.protocols#awsJson1_1") and their CBOR variant
//     application/x-amz-cbor-1.1 (RFC 8949) that the Java SDKs send to
//     Kinesis; Timestamp carries times in each protocol's format.
//   - Verifier, Middleware and StreamingMiddleware: AWS Signature Version 4
//     verification, header and presigned forms, by re-signing with
//     aws-sdk-go-v2's aws/signer/v4 (checked against AWS's published test
//     suite); bodies are bounded and replayed, or streamed
//     (StreamingMiddleware, in front of KVS PutMedia), including aws-chunked uploads whose chunk signatures
//     ChunkedReader checks with the SDK's v4.StreamSigner.
//   - ReadBody and BodyBudget: the one way the AWS APIs read a request
//     body into memory: bounded per request (413 RequestEntityTooLarge),
//     and bounded together by a BodyBudget wrapped around the server's
//     handler (503 ServiceUnavailableException when no room frees up within
//     its Wait), so concurrent large bodies cannot exhaust a small board's
//     memory. Middleware refuses what the headers alone prove wrong
//     (Verifier.VerifyHeaders: missing or malformed signature, unknown
//     access key, date outside the skew window) before reading a byte.
//     With Verifier.Limiter, unknown access keys and wrong signatures are
//     counted per source address, and a locked-out address is refused
//     before its signature is checked: HTTP 400 ThrottlingException (the
//     SDKs' throttling code; Verifier.LockedOutType for another, such as
//     KVS's ClientLimitExceededException) with Retry-After.
//   - EventStreamWriter and ReadMessage: the application/vnd.amazon.eventstream
//     framing of Kinesis SubscribeToShard (the appliance writes it;
//     ReadMessage is what its tests decode it with).
//   - Operation, Op and DecodeInput: the one shape of an operation in every
//     API (decode the input shape, validate it, call the backend; the API
//     encodes the output or error in its protocol), as Kinesis and the KVS
//     control plane use it.
//
// Request handlers typically run behind Middleware and do:
//
//	c, err := awsproto.CodecOf(r)
//	...
//	var in PutRecordInput
//	if err := awsproto.Decode(c, body, &in); err != nil {
//		awsproto.WriteError(w, c, awsproto.RequestID(r.Context()), err)
//		return
//	}
//	awsproto.WriteResponse(w, c, awsproto.RequestID(r.Context()), out)
package awsproto
