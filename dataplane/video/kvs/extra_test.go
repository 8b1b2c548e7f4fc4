package kvs

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// TestConcurrentUpdates races clients that all hold the same version:
// exactly one update wins, the others get VersionMismatchException.
func TestConcurrentUpdates(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	env.create(t, &kinesisvideo.CreateStreamInput{StreamName: aws.String("race")})
	v := aws.ToString(env.describe(t, "race").StreamInfo.Version)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = env.client.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamName: aws.String("race"),
				CurrentVersion: aws.String(v), Operation: types.UpdateDataRetentionOperationIncreaseDataRetention, DataRetentionChangeInHours: aws.Int32(1)})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantErr[*types.VersionMismatchException](t, "losing update", err, http.StatusBadRequest)
	}
	if won != 1 {
		t.Errorf("%d updates won, want 1", won)
	}
	if got := aws.ToInt32(env.describe(t, "race").StreamInfo.DataRetentionInHours); got != 25 {
		t.Errorf("retention %d, want 25 (24 + one increase)", got)
	}
}

func TestDataEndpoint(t *testing.T) {
	tests := []struct {
		name, configured, url string
		tls                   bool
		want                  string
	}{
		{"http", "", "http://192.0.2.1:8080/getDataEndpoint", false, "http://192.0.2.1:8080"},
		{"https", "", "https://kinedge.local/getDataEndpoint", true, "https://kinedge.local"},
		{"configured", "https://cams.example:8443/", "http://127.0.0.1:8080/getDataEndpoint", false, "https://cams.example:8443"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{DataEndpoint: tc.configured}
			r := httptest.NewRequest(http.MethodPost, tc.url, nil)
			if !tc.tls {
				r.TLS = nil
			} else if r.TLS == nil {
				r.TLS = &tls.ConnectionState{}
			}
			if got := h.endpoint(r); got != tc.want {
				t.Errorf("endpoint %q, want %q", got, tc.want)
			}
		})
	}
}

// TestInternalErrors checks the failures that are not the client's: a
// corrupt tag record is an InternalFailure (500) that is logged, a closed
// index a ServiceUnavailableException (503), a Handler without Index an
// InternalFailure.
func TestInternalErrors(t *testing.T) {
	var logs bytes.Buffer
	idx := openIndex(t)
	h := &Handler{Index: idx, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	mux := http.NewServeMux()
	h.Register(mux, nil)
	if code, out := call(t, mux, PathCreateStream, []byte(`{"StreamName":"s"}`)); code != http.StatusOK {
		t.Fatalf("create: %d %v", code, out)
	}
	bare := http.NewServeMux()
	(&Handler{}).Register(bare, nil)
	if code, out := call(t, bare, PathDescribeStream, []byte(`{"StreamName":"s"}`)); code != http.StatusInternalServerError || out["__type"] != "InternalFailure" {
		t.Errorf("no index: HTTP %d %v", code, out)
	}

	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out := call(t, mux, PathDescribeStream, []byte(`{"StreamName":"s"}`)); code != http.StatusServiceUnavailable || out["__type"] != "ServiceUnavailableException" {
		t.Errorf("closed index: HTTP %d %v", code, out)
	}
}

func TestBodyTooLarge(t *testing.T) {
	mux, _ := newBareMux(t)
	body := `{"StreamName":"s","DeviceName":"` + strings.Repeat("d", maxBody) + `"}`
	if code, out := call(t, mux, PathCreateStream, []byte(body)); code != http.StatusRequestEntityTooLarge || out["__type"] != "RequestEntityTooLarge" {
		t.Errorf("HTTP %d %v, want 413 RequestEntityTooLarge", code, out)
	}
}
