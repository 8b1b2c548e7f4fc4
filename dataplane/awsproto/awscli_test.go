package awsproto

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestAWSCLI uses the AWS CLI (botocore, Python: a SigV4 signer and a JSON
// parser nobody here wrote) against Middleware: a signed success whose
// timestamp botocore parses, a modeled error, and a wrong secret.
func TestAWSCLI(t *testing.T) {
	aws := testtool.Need(t, "aws")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := RequestID(r.Context())
		c, err := CodecOf(r)
		if err != nil {
			WriteError(w, JSON, id, err)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			WriteError(w, c, id, err)
			return
		}
		var in struct {
			StreamName string `json:"StreamName"`
		}
		if err := Decode(c, body, &in); err != nil {
			WriteError(w, c, id, err)
			return
		}
		switch r.Header.Get("X-Amz-Target") {
		case "Kinesis_20131202.DescribeStreamSummary":
			if in.StreamName != "cam1" {
				WriteError(w, c, id, Errorf(ResourceNotFoundException, "Stream %s under account 000000000000 not found.", in.StreamName))
				return
			}
			WriteResponse(w, c, id, map[string]any{"StreamDescriptionSummary": map[string]any{
				"StreamName": "cam1", "StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/cam1",
				"StreamStatus": "ACTIVE", "RetentionPeriodHours": 24, "OpenShardCount": 1,
				"StreamCreationTimestamp": Timestamp{time.UnixMilli(1700000000123)},
				"EnhancedMonitoring":      []any{},
			}})
		default:
			WriteError(w, c, id, Errorf(UnknownOperationException, ""))
		}
	})
	srv := httptest.NewServer(Middleware(&Verifier{
		Secret:  func(k string) (string, bool) { return testSecret, k == testKey },
		Service: "kinesis",
	}, handler, 0))
	defer srv.Close()

	run := func(t *testing.T, secret string, args ...string) (string, string, error) {
		t.Helper()
		return testtool.AWSCLI{Path: aws, Endpoint: srv.URL, Region: "us-east-1", Key: testKey, Secret: secret}.Run(t, "kinesis", args...)
	}

	t.Run("success", func(t *testing.T) {
		out, errOut, err := run(t, testSecret, "describe-stream-summary", "--stream-name", "cam1")
		if err != nil {
			t.Fatalf("aws: %v\n%s", err, errOut)
		}
		var got struct {
			StreamDescriptionSummary struct {
				StreamName              string
				StreamCreationTimestamp string
			}
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		s := got.StreamDescriptionSummary
		// botocore parsed the epoch-seconds number and printed it in ISO 8601.
		if s.StreamName != "cam1" || !strings.HasPrefix(s.StreamCreationTimestamp, "2023-11-14T22:13:20.123") {
			t.Fatalf("summary %+v", s)
		}
	})
	errTests := []struct {
		name, secret, stream, code, msg string
	}{
		{"modeled error", testSecret, "nope", ResourceNotFoundException, "Stream nope under account 000000000000 not found."},
		{"wrong secret", "wrong", "cam1", InvalidSignatureException, msgSignatureInvalid},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, err := run(t, tt.secret, "describe-stream-summary", "--stream-name", tt.stream)
			// "An error occurred (<code>) when calling the <op> operation[ (reached max retries: 0)]: <message>"
			if err == nil || !strings.Contains(errOut, "An error occurred ("+tt.code+") when calling the DescribeStreamSummary operation") ||
				!strings.HasSuffix(strings.TrimSpace(errOut), ": "+tt.msg) {
				t.Fatalf("err %v, stderr %q; want code %s, message %q", err, errOut, tt.code, tt.msg)
			}
		})
	}
}
