package rtsp

import (
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
)

// authRealm is the realm of the WWW-Authenticate challenges.
const authRealm = "kinedge"

// Credentials are the publish credentials of a stream.
type Credentials struct {
	// User and Pass a camera must present. The password is needed in
	// plaintext because RTSP Digest authentication (RFC 2617 as used by
	// RFC 2326 §D.1) hashes it with a server nonce.
	User, Pass string
	// Anonymous accepts publishers that present no (or any) credentials.
	Anonymous bool
	// Users, when set, replaces User and Pass: it returns the password of
	// the user a client names (ok false for an unknown user: 401) and
	// whether that user may do the act on the stream (false: 403
	// Forbidden once the password is verified).
	Users func(user string) (pass string, allowed, ok bool)
}

// Authenticator returns the publish credentials of a stream. A nil
// Authenticator, or Credentials with an empty User and Anonymous false,
// refuse every publish with 401.
type Authenticator func(stream string) Credentials

// StaticCredentials returns an Authenticator that requires the same user and
// password for every stream.
func StaticCredentials(user, pass string) Authenticator {
	return func(string) Credentials { return Credentials{User: user, Pass: pass} }
}

// authMethods are the accepted schemes: Basic (RFC 2617 §2) and Digest MD5
// (RFC 2617 §3; SHA-256 is left out since ffmpeg cannot answer it).
func authMethods() []auth.VerifyMethod {
	return []auth.VerifyMethod{auth.VerifyMethodBasic, auth.VerifyMethodDigestMD5}
}

// connState is kept per RTSP connection: the Digest nonce it was challenged
// with.
type connState struct {
	nonce string
}

// authChallenge returns the WWW-Authenticate header for a connection.
func authChallenge(nonce string) base.HeaderValue {
	return auth.GenerateWWWAuthenticate(authMethods(), authRealm, nonce)
}

// requestUser returns the user name of a request's Authorization header, ""
// when there is none.
func requestUser(req *base.Request) string {
	var a headers.Authorization
	if a.Unmarshal(req.Header["Authorization"]) != nil {
		return ""
	}
	return a.Username
}

// verify checks the request's credentials against want; allowed is false
// for a user of want.Users verified but without the permission.
func verify(req *base.Request, want Credentials, nonce string) (ok, allowed bool) {
	user, pass := want.User, want.Pass
	allowed = true
	if want.Users != nil {
		user = requestUser(req)
		var known bool
		if pass, allowed, known = want.Users(user); !known || user == "" {
			return false, false
		}
	}
	if user == "" {
		return false, false
	}
	return auth.Verify(req, user, pass, authMethods(), authRealm, nonce) == nil, allowed
}
