package kvs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/index"
)

// noOpener is an Opener for streams without fragments: never called.
type noOpener struct{}

func (noOpener) Open(context.Context, string, uint64, []byte) ([]byte, error) {
	return nil, errors.New("noOpener: no fragment should be opened")
}

// mediaCases seed the media fuzz test: valid and invalid bodies of each
// media operation.
var mediaCases = []struct{ path, body string }{
	{PathGetMedia, `{"StreamName":"f","StartSelector":{"StartSelectorType":"NOW"}}`},
	{PathGetMedia, `{"StreamName":"f","StartSelector":{"StartSelectorType":"EARLIEST"}}`},
	{PathGetMedia, `{"StreamName":"f","StartSelector":{"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":"12"}}`},
	{PathGetMedia, `{"StreamName":"f","StartSelector":{"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":1700000000.5}}`},
	{PathGetMedia, `{"StreamName":"f","StartSelector":{"StartSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":-1e30}}`},
	{PathGetMedia, `{"StreamName":"f","StartSelector":{"StartSelectorType":"CONTINUATION_TOKEN","ContinuationToken":"5_1700000000000000000"}}`},
	{PathGetMedia, `{"StreamName":"f","StartSelector":{"StartSelectorType":"CONTINUATION_TOKEN","ContinuationToken":"18446744073709551616_1"}}`},
	{PathGetMedia, `{"StreamARN":"arn:aws:kinesisvideo:eu-west-1:123456789012:stream/f/1","StartSelector":{}}`},
	{PathGetMediaForFragmentList, `{"StreamName":"f","Fragments":["1","2"]}`},
	{PathGetMediaForFragmentList, `{"StreamName":"f","Fragments":["99999999999999999999999"]}`},
	{PathGetClip, `{"StreamName":"f","ClipFragmentSelector":{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":1,"EndTimestamp":2}}}`},
	{PathGetClip, `{"StreamName":"f","ClipFragmentSelector":{"FragmentSelectorType":"PRODUCER_TIMESTAMP","TimestampRange":{"StartTimestamp":1e300,"EndTimestamp":1e301}}}`},
	{PathGetImages, `{"StreamName":"f","ImageSelectorType":"SERVER_TIMESTAMP","StartTimestamp":1,"EndTimestamp":2,"SamplingInterval":200,"Format":"PNG","WidthPixels":10}`},
	{PathGetImages, `{"StreamName":"f","ImageSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1,"EndTimestamp":1e12,"SamplingInterval":9223372036854775807,"Format":"JPEG","FormatConfig":{"JPEGQuality":"50"},"NextToken":"AAAAAAAAAAE="}`},
	{PathGetHLSStreamingSessionURL, `{"StreamName":"f","PlaybackMode":"ON_DEMAND","HLSFragmentSelector":{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":1,"EndTimestamp":2}},"ContainerFormat":"MPEG_TS"}`},
	{PathGetDASHStreamingSessionURL, `{"StreamName":"f","PlaybackMode":"LIVE_REPLAY","DisplayFragmentNumber":"ALWAYS","DisplayFragmentTimestamp":"NEVER","DASHFragmentSelector":{"FragmentSelectorType":"PRODUCER_TIMESTAMP","TimestampRange":{"StartTimestamp":1}},"MaxManifestFragmentResults":5000,"Expires":43200}`},
	{PathGetDASHStreamingSessionURL, `{"StreamARN":"arn:aws:kinesisvideo:eu-west-1:123456789012:stream/f/1","PlaybackMode":"LIVE"}`},
}

// FuzzMediaRequests sends arbitrary bodies to the media operations (and
// the HLS and DASH session requests) of a stream without fragments: every answer is 200 with Matroska (getMedia
// ends idle with its token), or a KVS error with its type (getImages,
// without a picture maker, 501 NotImplemented); never a panic or a 500.
func FuzzMediaRequests(f *testing.F) {
	for i, c := range mediaCases {
		f.Add(uint8(i), []byte(c.body))
	}
	idx := openIndex(f)
	if _, err := idx.CreateStream(context.Background(), index.Stream{Name: "f", RetentionHours: 24}); err != nil {
		f.Fatal(err)
	}
	h := &Handler{Index: idx, Opener: noOpener{}, GetMediaIdle: time.Millisecond, GetMediaCallsPerSecond: -1}
	mux := http.NewServeMux()
	h.Register(mux, nil)
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		path := mediaCases[int(op)%len(mediaCases)].path
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if path != PathGetMedia {
				t.Fatalf("POST %s %q: 200 from a stream without fragments", path, body)
			}
			r := mkv.NewReader(rec.Body, mkv.ReaderOptions{})
			var token bool
			for {
				ev, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("POST %s %q: %v", path, body, err)
				}
				if tags, ok := ev.(mkv.Tags); ok {
					_, token = tags.Get(mkv.TagContinuationToken)
				}
			}
			if !token {
				t.Fatalf("POST %s %q: no continuation token at the end", path, body)
			}
		case http.StatusNotImplemented:
			// GetImages without a picture maker.
			if path != PathGetImages || rec.Header().Get("X-Amzn-ErrorType") != NotImplemented+":" {
				t.Fatalf("POST %s %q: HTTP 501 %s", path, body, rec.Body.Bytes())
			}
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
			if rec.Header().Get("X-Amzn-ErrorType") == "" {
				t.Fatalf("POST %s %q: HTTP %d without an error type", path, body, rec.Code)
			}
		default:
			t.Fatalf("POST %s %q: HTTP %d %s", path, body, rec.Code, rec.Body.Bytes())
		}
	})
}

// FuzzContinuationToken: parseToken never panics, and what it accepts
// comes back the same from token().
func FuzzContinuationToken(f *testing.F) {
	for _, s := range []string{"0_0", "5_1700000000000000000", "18446744073709551615_9223372036854775807", "1_-1", "_", "a_b", "1__2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := parseToken(s)
		if !ok {
			return
		}
		c2, ok := parseToken(c.token())
		if !ok || c2 != c {
			t.Fatalf("parseToken(%q) = %+v, its token %q parses as %+v, %v", s, c, c.token(), c2, ok)
		}
	})
}
