package awsproto

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Signature Version 4 constants. See "Signature Version 4 signing process"
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html)
// and "Authenticating Requests: Using Query Parameters"
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html).
const (
	// SigningAlgorithm is the only algorithm Verifier accepts.
	SigningAlgorithm = "AWS4-HMAC-SHA256"
	// UnsignedPayload is the X-Amz-Content-Sha256 value of a request whose
	// body is not covered by the signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// StreamingPayloadPrefix starts the X-Amz-Content-Sha256 values of
	// aws-chunked uploads (e.g. STREAMING-AWS4-HMAC-SHA256-PAYLOAD): only
	// the seed signature is verified, the chunks are the handler's business.
	StreamingPayloadPrefix = "STREAMING-"
	// DefaultMaxSkew is the default Verifier.MaxSkew, as in AWS.
	DefaultMaxSkew = 15 * time.Minute
	// maxPresignExpires is the longest X-Amz-Expires AWS accepts (7 days).
	maxPresignExpires = 7 * 24 * time.Hour

	amzDateFormat  = "20060102T150405Z"
	scopeTerminal  = "aws4_request"
	emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	maxAuthLength  = 8 << 10
)

// Messages of the signature errors, worded as AWS words them.
const (
	msgMissingToken     = "Missing Authentication Token"
	msgInvalidToken     = "The security token included in the request is invalid."
	msgSignatureInvalid = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// Verifier verifies AWS Signature Version 4 requests, in the Authorization
// header form and the presigned query form (X-Amz-Signature). The canonical
// request is not rebuilt here: a copy of the request restricted to the
// client's SignedHeaders is re-signed with aws-sdk-go-v2's v4.Signer at the
// client's X-Amz-Date and scope, and the signatures are compared in constant
// time.
//
// The Host the client signed must reach the server: a reverse proxy in
// front of the appliance must pass the Host header through unchanged.
type Verifier struct {
	// Secret returns the secret access key of an access key id, and false
	// for an unknown key. Nil rejects every key.
	Secret func(accessKey string) (secret string, ok bool)
	// Service, if not empty, is the only service name accepted in the
	// credential scope (e.g. "kinesis", "firehose", "kinesisvideo"). It
	// defaults to "": any service.
	Service string
	// Now returns the current time. It defaults to time.Now.
	Now func() time.Time
	// MaxSkew is how far X-Amz-Date may be from Now. It defaults to
	// DefaultMaxSkew (15 minutes, as AWS).
	MaxSkew time.Duration
	// Limiter, if not nil, brakes signature guessing per source address:
	// Middleware and StreamingMiddleware refuse a locked-out address
	// before checking its signature, and report unknown access keys and
	// wrong signatures to it (surface "aws") and successes.
	Limiter FailureLimiter
	// LockedOutType is the AWS error type (HTTP 400, with Retry-After)
	// a locked-out address gets. It defaults to ThrottlingException, which
	// the SDKs of the JSON protocols know as throttling; KVS's REST API
	// uses ClientLimitExceededException.
	LockedOutType string
}

// FailureLimiter counts failed authentications per source address
// (package authlimit's Limiter): Check before, Fail or Succeed after.
type FailureLimiter interface {
	Check(remoteAddr string) (retryAfter time.Duration, ok bool)
	Fail(remoteAddr, surface string)
	Succeed(remoteAddr string)
}

// sigParams are the signature fields of a request, from either form.
type sigParams struct {
	presigned     bool
	accessKey     string
	scopeDate     string
	region        string
	service       string
	signedHeaders []string
	signature     string
	amzDate       string
	expires       time.Duration // presigned only; 0 when absent
}

// Verify checks the signature of r, whose body has been read into body
// (ignored for UNSIGNED-PAYLOAD and STREAMING-* payloads). It returns the
// access key id, or an *Error of the AWS type and wording:
// MissingAuthenticationTokenException, IncompleteSignatureException,
// UnrecognizedClientException or InvalidSignatureException, all HTTP 403.
func (v *Verifier) Verify(r *http.Request, body []byte) (accessKey string, err error) {
	return v.verify(r, body, false)
}

// VerifyStreaming checks the signature of r without its body, for
// long-lived uploads such as KVS PutMedia that must not be buffered. The
// payload hash is taken as the client declares it (X-Amz-Content-Sha256:
// UNSIGNED-PAYLOAD, STREAMING-*, or a SHA-256 the caller must check while
// reading, as StreamingMiddleware does) or, with none declared, is the hash
// of an empty payload, which is how the KVS producer SDKs sign PutMedia.
func (v *Verifier) VerifyStreaming(r *http.Request) (accessKey string, err error) {
	return v.verify(r, nil, true)
}

// VerifyHeaders checks what of r's signature can be checked without its
// body: the Authorization header (or presigned query) is well formed, the
// credential scope names the accepted service and X-Amz-Date's day, the
// access key is known and X-Amz-Date lies within MaxSkew of Now (or the
// presigned URL has not expired). It returns the access key id or the
// *Error Verify would return. Middleware calls it before reading a body,
// so that a request refused anyway costs no memory; Verify still checks
// the signature itself.
func (v *Verifier) VerifyHeaders(r *http.Request) (accessKey string, err error) {
	p, _, _, err := v.checkHeaders(r)
	return p.accessKey, err
}

// checkHeaders is VerifyHeaders, returning what verify needs next.
func (v *Verifier) checkHeaders(r *http.Request) (p sigParams, signTime time.Time, secret string, err error) {
	p, err = parseSignature(r)
	if err != nil {
		return p, signTime, "", err
	}
	if v.Service != "" && p.service != v.Service {
		return p, signTime, "", Errorf(InvalidSignatureException, "Credential should be scoped to correct service: '%s'. ", v.Service)
	}
	signTime, err = time.Parse(amzDateFormat, p.amzDate)
	if err != nil {
		return p, signTime, "", Errorf(IncompleteSignatureException, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", truncate(p.amzDate, 64))
	}
	if p.scopeDate != p.amzDate[:8] {
		return p, signTime, "", Errorf(InvalidSignatureException, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", truncate(p.scopeDate, 16), p.amzDate[:8], p.amzDate)
	}
	ok := false
	if v.Secret != nil {
		secret, ok = v.Secret(p.accessKey)
	}
	if !ok {
		return p, signTime, "", Errorf(UnrecognizedClientException, msgInvalidToken)
	}
	if err := v.checkTime(p, signTime); err != nil {
		return p, signTime, "", err
	}
	return p, signTime, secret, nil
}

func (v *Verifier) verify(r *http.Request, body []byte, streaming bool) (accessKey string, err error) {
	p, signTime, secret, err := v.checkHeaders(r)
	if err != nil {
		return "", err
	}
	payloadHashes, err := payloadHashes(r, p, body, streaming)
	if err != nil {
		return "", err
	}
	creds := aws.Credentials{AccessKeyID: p.accessKey, SecretAccessKey: secret}
	// Non-S3 clients URI-encode an already escaped path once more in the
	// canonical request (aws-sdk-go-v2, botocore); some signers, like
	// AWS's test suite, do not. Both forms bind the path.
	pathEscapings := []bool{false}
	if strings.Contains(r.URL.EscapedPath(), "%") {
		pathEscapings = append(pathEscapings, true)
	}
	for _, ph := range payloadHashes {
		for _, noEscape := range pathEscapings {
			got, err := resign(r, p, creds, ph, signTime, noEscape)
			if err != nil {
				return "", Errorf(InvalidSignatureException, msgSignatureInvalid)
			}
			if hmac.Equal([]byte(got), []byte(strings.ToLower(p.signature))) {
				return p.accessKey, nil
			}
		}
	}
	return "", Errorf(InvalidSignatureException, msgSignatureInvalid)
}

func (v *Verifier) checkTime(p sigParams, signTime time.Time) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	t := now().UTC()
	if signTime.After(t.Add(skew)) {
		return Errorf(InvalidSignatureException, "Signature not yet current: %s is still later than %s (%s + %s)",
			p.amzDate, t.Add(skew).Format(amzDateFormat), t.Format(amzDateFormat), durationWords(skew))
	}
	window := skew
	if p.presigned && p.expires > 0 {
		window = p.expires
	}
	if signTime.Before(t.Add(-window)) {
		return Errorf(InvalidSignatureException, "Signature expired: %s is now earlier than %s (%s - %s)",
			p.amzDate, t.Add(-window).Format(amzDateFormat), t.Format(amzDateFormat), durationWords(window))
	}
	return nil
}

// durationWords writes d as AWS does in skew messages: "15 min.".
func durationWords(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min."
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + " sec."
}

// parseSignature reads the signature fields of the Authorization header or,
// without one, of the presigned query.
func parseSignature(r *http.Request) (sigParams, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		return parseAuthorization(r, auth)
	}
	q := r.URL.Query()
	if q.Has("X-Amz-Signature") || q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") {
		return parsePresigned(q)
	}
	return sigParams{}, Errorf(MissingAuthenticationTokenException, msgMissingToken)
}

func parseAuthorization(r *http.Request, auth string) (sigParams, error) {
	var p sigParams
	if len(auth) > maxAuthLength {
		return p, Errorf(IncompleteSignatureException, "Authorization header is too long.")
	}
	alg, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
	if alg != SigningAlgorithm {
		return p, Errorf(IncompleteSignatureException, "Unsupported AWS 'algorithm': '%s'. Only %s is supported.", truncate(alg, 64), SigningAlgorithm)
	}
	var cred, signed string
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Credential":
			cred, haveCred = val, true
		case "SignedHeaders":
			signed, haveSigned = val, true
		case "Signature":
			p.signature, haveSig = val, true
		}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	var missing []string
	if !haveCred {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if !haveSig {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if !haveSigned {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if amzDate == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return p, Errorf(IncompleteSignatureException, "%s Authorization=%s", strings.Join(missing, " "), truncate(auth, 256))
	}
	p.amzDate = amzDate
	if err := p.setCredential(cred); err != nil {
		return p, err
	}
	if err := p.setSignedHeaders(signed); err != nil {
		return p, err
	}
	return p, nil
}

func parsePresigned(q url.Values) (sigParams, error) {
	p := sigParams{presigned: true}
	var missing []string
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
		if q.Get(k) == "" {
			missing = append(missing, "AWS query-string parameters must include '"+k+"'.")
		}
	}
	if len(missing) > 0 {
		return p, Errorf(IncompleteSignatureException, "%s Re-examine the query-string parameters.", strings.Join(missing, " "))
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != SigningAlgorithm {
		return p, Errorf(IncompleteSignatureException, "Unsupported AWS 'algorithm': '%s'. Only %s is supported.", truncate(alg, 64), SigningAlgorithm)
	}
	p.signature = q.Get("X-Amz-Signature")
	p.amzDate = q.Get("X-Amz-Date")
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n <= 0 || time.Duration(n)*time.Second > maxPresignExpires {
			return p, Errorf(IncompleteSignatureException, "X-Amz-Expires must be an integer number of seconds between 1 and 604800, got '%s'.", truncate(e, 32))
		}
		p.expires = time.Duration(n) * time.Second
	}
	if err := p.setCredential(q.Get("X-Amz-Credential")); err != nil {
		return p, err
	}
	if err := p.setSignedHeaders(q.Get("X-Amz-SignedHeaders")); err != nil {
		return p, err
	}
	return p, nil
}

// setCredential parses "<key>/<yyyymmdd>/<region>/<service>/aws4_request".
func (p *sigParams) setCredential(cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return Errorf(IncompleteSignatureException, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", truncate(cred, 256))
	}
	if parts[4] != scopeTerminal {
		return Errorf(InvalidSignatureException, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", truncate(parts[4], 64))
	}
	if parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return Errorf(IncompleteSignatureException, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", truncate(cred, 256))
	}
	p.accessKey, p.scopeDate, p.region, p.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// setSignedHeaders parses the ';'-separated lowercase header list, which
// must include host.
func (p *sigParams) setSignedHeaders(s string) error {
	p.signedHeaders = strings.Split(s, ";")
	hasHost := false
	for _, h := range p.signedHeaders {
		if h == "" || h != strings.ToLower(h) {
			return Errorf(IncompleteSignatureException, "SignedHeaders must be a ';'-separated list of lowercase header names, got '%s'.", truncate(s, 256))
		}
		if h == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return Errorf(InvalidSignatureException, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

// payloadHashes returns the payload hashes the signature may have been
// computed over, in order of preference.
func payloadHashes(r *http.Request, p sigParams, body []byte, streaming bool) ([]string, error) {
	declared := declaredPayloadHash(r)
	switch {
	case declared == UnsignedPayload, strings.HasPrefix(declared, StreamingPayloadPrefix):
		return []string{declared}, nil
	case declared != "":
		if _, err := hex.DecodeString(declared); err != nil || len(declared) != sha256.Size*2 {
			return nil, Errorf(InvalidSignatureException, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value.")
		}
		if streaming {
			return []string{declared}, nil // the caller checks the body as it streams
		}
		sum := sha256.Sum256(body)
		if !hmac.Equal([]byte(strings.ToLower(declared)), []byte(hex.EncodeToString(sum[:]))) {
			return nil, Errorf(InvalidSignatureException, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		return []string{declared}, nil
	}
	if streaming {
		if p.presigned {
			return []string{emptySHA256Hex, UnsignedPayload}, nil
		}
		return []string{emptySHA256Hex}, nil
	}
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	if p.presigned && h == emptySHA256Hex {
		// Presigned URLs without a body are signed over either the empty
		// hash or UNSIGNED-PAYLOAD depending on the client.
		return []string{h, UnsignedPayload}, nil
	}
	return []string{h}, nil
}

// declaredPayloadHash returns the X-Amz-Content-Sha256 header or, for a
// presigned request without it, the query parameter.
func declaredPayloadHash(r *http.Request) string {
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		return h
	}
	if r.Header.Get("Authorization") == "" {
		return r.URL.Query().Get("X-Amz-Content-Sha256")
	}
	return ""
}

// resign signs a copy of r holding only the client's signed headers, with
// aws-sdk-go-v2's signer, and returns the signature.
func resign(r *http.Request, p sigParams, creds aws.Credentials, payloadHash string, signTime time.Time, noPathEscape bool) (string, error) {
	u := *r.URL
	u.Scheme, u.Host = "", ""
	if p.presigned {
		q := r.URL.Query()
		q.Del("X-Amz-Signature")
		u.RawQuery = q.Encode()
	}
	c := &http.Request{
		Method: r.Method,
		URL:    &u,
		Host:   r.Host,
		Header: make(http.Header, len(p.signedHeaders)),
	}
	for _, h := range p.signedHeaders {
		switch h {
		case "host":
			continue
		case "content-length":
			c.ContentLength = r.ContentLength
			if c.ContentLength < 0 {
				if n, err := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64); err == nil {
					c.ContentLength = n
				}
			}
			continue
		}
		vals := r.Header.Values(h)
		if h == "transfer-encoding" && len(vals) == 0 && len(r.TransferEncoding) > 0 {
			// net/http moves Transfer-Encoding out of the header map.
			vals = []string{strings.Join(r.TransferEncoding, ",")}
		}
		if len(vals) == 0 {
			continue
		}
		// The SDK signer skips a few headers (User-Agent, Transfer-Encoding,
		// Expect...) by their canonical name only; the KVS producers sign
		// them. Keyed in lowercase, as the client named them in
		// SignedHeaders, they are signed like any other. X-Amz-Date keeps
		// its canonical key: the signer sets it there itself.
		key := h
		if ck := textproto.CanonicalMIMEHeaderKey(h); ck == "X-Amz-Date" {
			key = ck
		}
		c.Header[key] = vals
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableHeaderHoisting = true
		o.DisableURIPathEscaping = noPathEscape
	})
	ctx := context.Background()
	if p.presigned {
		signed, _, err := signer.PresignHTTP(ctx, creds, c, payloadHash, p.service, p.region, signTime)
		if err != nil {
			return "", fmt.Errorf("awsproto: presign: %w", err)
		}
		su, err := url.Parse(signed)
		if err != nil {
			return "", fmt.Errorf("awsproto: presign: %w", err)
		}
		return su.Query().Get("X-Amz-Signature"), nil
	}
	if err := signer.SignHTTP(ctx, creds, c, payloadHash, p.service, p.region, signTime); err != nil {
		return "", fmt.Errorf("awsproto: sign: %w", err)
	}
	_, sig, ok := strings.Cut(c.Header.Get("Authorization"), "Signature=")
	if !ok {
		return "", fmt.Errorf("awsproto: sign: no signature")
	}
	return sig, nil
}
