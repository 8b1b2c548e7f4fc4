package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/smithy-go"
)

// fromIP returns an HTTP client whose connections leave from ip (a
// loopback address: 127.0.0.0/8 is all loopback on Linux).
func fromIP(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// pollUntil calls fn every 50 ms until it returns true or d passes: the
// lockout's start is an event the test sees only in answers.
func pollUntil(t *testing.T, d time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		<-time.After(50 * time.Millisecond)
	}
}

// TestFailedAuthLockoutE2E: repeated wrong Basic auth on /v1 from one
// address gets 429 with Retry-After, also for that address's right
// credentials, while the right client on another address (127.0.0.2)
// gets in; an aws-sdk-go-v2 client with a wrong secret is refused with
// ThrottlingException (Kinesis) and ClientLimitExceededException (KVS)
// once its address is locked out; /metrics counts it all.
func TestFailedAuthLockoutE2E(t *testing.T) {
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_AUTH_FAILURES_MAX=3")
	base := "http://" + s.httpAddr
	get := func(c *http.Client, user, pass string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/streams", nil)
		req.SetBasicAuth(user, pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	attacker, other := fromIP("127.0.0.1"), fromIP("127.0.0.2")
	for i := range 3 {
		if resp, body := get(attacker, "admin", "guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// Keep guessing until a lockout of at least 4 s (1 s, 2 s, 4 s: each
	// guess after a lockout starts the next), so the checks below fit in it.
	pollUntil(t, 30*time.Second, "a 4 s lockout", func() bool {
		resp, body := get(attacker, "admin", "guess")
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return false
		case http.StatusTooManyRequests:
			if !strings.Contains(body, `"message"`) || !strings.Contains(body, "too many failed authentications") {
				t.Fatalf("429 body %q", body)
			}
			n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || n < 1 {
				t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
			return n >= 4
		}
		t.Fatalf("guess: %d %s", resp.StatusCode, body)
		return false
	})
	if resp, body := get(attacker, "admin", "adminsecret"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right credentials from the locked-out address: %d %s, want 429", resp.StatusCode, body)
	}
	if resp, body := get(other, "admin", "adminsecret"); resp.StatusCode != http.StatusOK {
		t.Fatalf("right client at 127.0.0.2: %d %s", resp.StatusCode, body)
	}

	// The AWS APIs, from a third address.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	awsClient := fromIP("127.0.0.3")
	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), HTTPClient: awsClient,
		Credentials: credentials.NewStaticCredentialsProvider("admin", "wrongsecret", ""), Retryer: aws.NopRetryer{}})
	codeOf := func(err error) string {
		var api smithy.APIError
		if !errors.As(err, &api) {
			t.Fatalf("not an AWS error: %v", err)
		}
		return api.ErrorCode()
	}
	for i := range 3 {
		_, err := kc.ListStreams(ctx, &kinesis.ListStreamsInput{})
		if code := codeOf(err); code != "InvalidSignatureException" {
			t.Fatalf("wrong secret %d: %v", i, err)
		}
	}
	pollUntil(t, 30*time.Second, "ThrottlingException", func() bool {
		_, err := kc.ListStreams(ctx, &kinesis.ListStreamsInput{})
		switch code := codeOf(err); code {
		case "InvalidSignatureException":
			return false
		case "ThrottlingException":
			return true
		default:
			t.Fatalf("wrong secret: %v", err)
			return false
		}
	})
	kv := kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), HTTPClient: awsClient,
		Credentials: credentials.NewStaticCredentialsProvider("admin", "wrongsecret", ""), Retryer: aws.NopRetryer{}})
	pollUntil(t, 30*time.Second, "ClientLimitExceededException", func() bool {
		_, err := kv.ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
		switch code := codeOf(err); code {
		case "InvalidSignatureException":
			return false
		case "ClientLimitExceededException":
			return true
		default:
			t.Fatalf("KVS, wrong secret: %v", err)
			return false
		}
	})
	// The right secret from another address works meanwhile.
	good := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), HTTPClient: other,
		Credentials: credentials.NewStaticCredentialsProvider("admin", "adminsecret", ""), Retryer: aws.NopRetryer{}})
	if _, err := good.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("right secret at 127.0.0.2: %v", err)
	}

	// /metrics (from the unlocked address) counts it; the log has the
	// lockouts at WARN, not the guesses.
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.SetBasicAuth("admin", "adminsecret")
	resp, err := other.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(b)
	for _, want := range []string{`kinedge_auth_failures_total{surface="http"} `, `kinedge_auth_failures_total{surface="aws"} `, "kinedge_auth_lockouts_total "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "kinedge_auth_lockouts_total 0\n") {
		t.Error("no lockout counted")
	}
	logs := s.logs()
	if n := strings.Count(logs, "address locked out"); n < 3 || !strings.Contains(logs, "address=127.0.0.3") {
		t.Errorf("%d lockout lines:\n%s", n, grepLines(logs, "locked"))
	}
}
