package kvs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	_ "image/jpeg" // image.DecodeConfig of GetImages' JPEGs
	_ "image/png"  // and PNGs
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/video/thumbnail"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// mediaEnv is a Handler with recorded media behind SigV4 on 127.0.0.1,
// its unknown paths answered by Fallback in front of a stand-in for the
// web page (which would ask for HTTP Basic).
type mediaEnv struct {
	idx  *index.Index
	kr   *seal.Keyring
	h    *Handler
	srv  *httptest.Server
	clip *camsim.Clip
	// frags are cam1's fragments in server-time order.
	frags []index.Fragment
	// next is the server time the next recording starts at.
	next time.Time
}

func newMediaEnv(t testing.TB, mod func(*Handler)) *mediaEnv {
	t.Helper()
	idx, err := index.Open(index.Options{InMemory: true, NoSync: true, Region: testRegion, Account: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	for _, s := range []index.Stream{{Name: "cam1", RetentionHours: 24}, {Name: "cam2", RetentionHours: 24}, {Name: "live0", RetentionHours: index.ZeroRetentionHours}} {
		if _, err := idx.CreateStream(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	kr := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	h := &Handler{Index: idx, Opener: kr, GetMediaIdle: time.Minute, GetMediaCallsPerSecond: -1}
	if mod != nil {
		mod(h)
	}
	v := &awsproto.Verifier{Secret: func(k string) (string, bool) { return testSecret, k == testKey }, Service: "kinesisvideo"}
	wrap := func(next http.Handler) http.Handler { return awsproto.Middleware(v, next, 0) }
	mux := http.NewServeMux()
	h.Register(mux, wrap)
	h.RegisterHLS(mux)
	mux.Handle("/", h.Fallback(wrap, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="kinedge"`)
		http.Error(w, "HTTP Basic required", http.StatusUnauthorized)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	env := &mediaEnv{idx: idx, kr: kr, h: h, srv: srv, clip: clip, next: time.Now().Add(-time.Hour).Truncate(time.Second)}
	env.record(t, "cam1")
	env.record(t, "cam2")
	return env
}

// record records the test clip into stream, after what was recorded
// before, and returns the fragments stored.
func (env *mediaEnv) record(t testing.TB, stream string) []index.Fragment {
	t.Helper()
	base := env.next
	now := base
	var stored []index.Fragment
	r := &fragment.Recorder{
		Stream: stream, Tracks: env.clip.Tracks, Sink: env.idx, Sealer: env.kr,
		Now: func() time.Time { return now }, OnStored: func(f index.Fragment) { stored = append(stored, f) },
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	var last time.Duration
	for _, f := range env.clip.Frames {
		now = base.Add(f.DTS)
		last = f.DTS
		c := *f
		r.WriteFrame(&c)
	}
	r.Close()
	if len(stored) < 3 {
		t.Fatalf("recorded %d fragments of %s, want 3 or more", len(stored), stream)
	}
	env.next = base.Add(last + 5*time.Second)
	if stream == "cam1" {
		env.frags = append(env.frags, stored...)
	}
	return stored
}

// signed returns a SigV4-signed POST of body to path.
func (env *mediaEnv) signed(t testing.TB, ctx context.Context, path string, body any, secret string) *http.Request {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "kinesisvideo", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// do sends a signed POST and returns the response (body unread).
func (env *mediaEnv) do(t testing.TB, ctx context.Context, path string, body any) *http.Response {
	t.Helper()
	resp, err := env.srv.Client().Do(env.signed(t, ctx, path, body, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// wantAWSError reads an error response and checks its status and type.
func wantAWSError(t *testing.T, what string, resp *http.Response, status int, typ string) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Errorf("%s: HTTP %d, body %q is not a JSON error", what, resp.StatusCode, b)
		return ""
	}
	if resp.StatusCode != status || e.Type != typ || resp.Header.Get("X-Amzn-ErrorType") != typ+":" {
		t.Errorf("%s: HTTP %d %s (%s) %q, want %d %s", what, resp.StatusCode, e.Type, resp.Header.Get("X-Amzn-ErrorType"), e.Message, status, typ)
	}
	return e.Message
}

// chunk is one Matroska file of a media response: its tags and how many
// blocks it holds.
type chunk struct {
	tags   map[string]string
	blocks int
}

func (c chunk) number(t *testing.T) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(c.tags[mkv.TagFragmentNumber], 10, 64)
	if err != nil {
		t.Fatalf("chunk without a fragment number: %v", c.tags)
	}
	return n
}

// chunkReader reads a KVS media response (EBML header + Segment after
// another) with the package's streaming Matroska reader.
type chunkReader struct {
	r   *mkv.Reader
	cur *chunk
}

func newChunkReader(r io.Reader) *chunkReader {
	return &chunkReader{r: mkv.NewReader(r, mkv.ReaderOptions{})}
}

// next returns the next chunk, which ends at its Tags element, or io.EOF.
func (cr *chunkReader) next() (chunk, error) {
	for {
		ev, err := cr.r.Next()
		if err != nil {
			return chunk{}, err
		}
		switch e := ev.(type) {
		case mkv.Header:
			cr.cur = &chunk{tags: map[string]string{}}
		case mkv.Block:
			if cr.cur != nil {
				cr.cur.blocks++
			}
		case mkv.Tags:
			if cr.cur == nil {
				return chunk{}, errors.New("tags before an EBML header")
			}
			for _, tag := range e.Tags {
				for _, s := range tag.SimpleTags {
					cr.cur.tags[s.Name] = s.Value
				}
			}
			c := *cr.cur
			cr.cur = nil
			return c, nil
		}
	}
}

// readAll returns every chunk of a response that ends.
func readAll(t *testing.T, body io.Reader) []chunk {
	t.Helper()
	cr := newChunkReader(body)
	var out []chunk
	for {
		c, err := cr.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading chunk %d: %v", len(out), err)
		}
		out = append(out, c)
	}
}

func selector(typ string, kv ...any) map[string]any {
	sel := map[string]any{"StartSelectorType": typ}
	for i := 0; i+1 < len(kv); i += 2 {
		sel[kv[i].(string)] = kv[i+1]
	}
	return map[string]any{"StreamName": "cam1", "StartSelector": sel}
}

func epochSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// TestGetMediaSelectors reads cam1 from every start selector until the
// session ends idle, and checks which fragments came, with what tags.
func TestGetMediaSelectors(t *testing.T) {
	env := newMediaEnv(t, func(h *Handler) { h.GetMediaIdle = 300 * time.Millisecond })
	fr := env.frags
	numbers := func(cs []chunk) []uint64 {
		var out []uint64
		for _, c := range cs {
			if _, ok := c.tags[mkv.TagFragmentNumber]; ok {
				out = append(out, c.number(t))
			}
		}
		return out
	}
	want := func(from int) []uint64 {
		var out []uint64
		for _, f := range fr[from:] {
			out = append(out, f.Number)
		}
		return out
	}
	get := func(body any) []chunk {
		t.Helper()
		resp := env.do(t, t.Context(), PathGetMedia, body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/webm" {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("getMedia %v: HTTP %d %s %s", body, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		cs := readAll(t, resp.Body)
		if len(cs) == 0 {
			t.Fatalf("getMedia %v: no chunk", body)
		}
		last := cs[len(cs)-1]
		if _, ok := last.tags[mkv.TagFragmentNumber]; ok || last.tags[mkv.TagContinuationToken] == "" || last.blocks != 0 {
			t.Fatalf("getMedia %v: last chunk %v (%d blocks), want only the continuation token", body, last.tags, last.blocks)
		}
		return cs
	}

	all := get(selector("EARLIEST"))
	if got := numbers(all); !equal(got, want(0)) {
		t.Fatalf("EARLIEST: fragments %v, want %v", got, want(0))
	}
	for i, c := range all[:len(all)-1] {
		f := fr[i]
		for name, v := range map[string]string{
			mkv.TagServerTimestamp:   mkv.FormatTagTime(f.ServerTime),
			mkv.TagProducerTimestamp: mkv.FormatTagTime(f.ProducerTime),
		} {
			if c.tags[name] != v {
				t.Errorf("fragment %d: %s = %q, want %q", f.Number, name, c.tags[name], v)
			}
		}
		if ms, err := strconv.ParseInt(c.tags[mkv.TagMillisBehindNow], 10, 64); err != nil || ms < time.Since(f.ServerTime).Milliseconds()-60_000 {
			t.Errorf("fragment %d: MILLIS_BEHIND_NOW %q", f.Number, c.tags[mkv.TagMillisBehindNow])
		}
		if c.blocks == 0 {
			t.Errorf("fragment %d: no blocks", f.Number)
		}
	}

	// CONTINUATION_TOKEN resumes exactly after the fragment that carried it.
	tok := all[1].tags[mkv.TagContinuationToken]
	if got := numbers(get(selector("CONTINUATION_TOKEN", "ContinuationToken", tok))); !equal(got, want(2)) {
		t.Errorf("CONTINUATION_TOKEN of fragment 2: %v, want %v", got, want(2))
	}
	// The idle end's token: nothing new since.
	end := all[len(all)-1].tags[mkv.TagContinuationToken]
	if got := numbers(get(selector("CONTINUATION_TOKEN", "ContinuationToken", end))); len(got) != 0 {
		t.Errorf("CONTINUATION_TOKEN of the idle end: %v, want none", got)
	}
	// FRAGMENT_NUMBER starts after the fragment named.
	if got := numbers(get(selector("FRAGMENT_NUMBER", "AfterFragmentNumber", strconv.FormatUint(fr[0].Number, 10)))); !equal(got, want(1)) {
		t.Errorf("FRAGMENT_NUMBER: %v, want %v", got, want(1))
	}
	// SERVER_TIMESTAMP and PRODUCER_TIMESTAMP: from the fragment holding
	// the time.
	in2 := fr[2].ServerTime.Add(fr[2].Duration / 2)
	if got := numbers(get(selector("SERVER_TIMESTAMP", "StartTimestamp", epochSeconds(in2)))); !equal(got, want(2)) {
		t.Errorf("SERVER_TIMESTAMP inside fragment 3: %v, want %v", got, want(2))
	}
	if got := numbers(get(selector("PRODUCER_TIMESTAMP", "StartTimestamp", epochSeconds(fr[1].ProducerTime)))); !equal(got, want(1)) {
		t.Errorf("PRODUCER_TIMESTAMP of fragment 2: %v, want %v", got, want(1))
	}
	// NOW: the latest fragment, then what comes.
	if got := numbers(get(selector("NOW"))); !equal(got, want(len(fr)-1)) {
		t.Errorf("NOW: %v, want %v", got, want(len(fr)-1))
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGetMediaFollowsLiveEdge: a session from NOW gets the fragments
// stored after the request, woken by the index (the idle limit is a
// minute, so only the event can deliver them in time).
func TestGetMediaFollowsLiveEdge(t *testing.T) {
	env := newMediaEnv(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp := env.do(t, ctx, PathGetMedia, selector("NOW"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	cr := newChunkReader(resp.Body)
	first, err := cr.next()
	if err != nil {
		t.Fatal(err)
	}
	latest := env.frags[len(env.frags)-1]
	if first.number(t) != latest.Number {
		t.Fatalf("first chunk is fragment %d, want the latest %d", first.number(t), latest.Number)
	}
	fresh := env.record(t, "cam1")
	for i, f := range fresh {
		c, err := cr.next()
		if err != nil {
			t.Fatalf("live fragment %d of %d: %v", i+1, len(fresh), err)
		}
		if c.number(t) != f.Number {
			t.Fatalf("live chunk %d is fragment %d, want %d", i, c.number(t), f.Number)
		}
	}
	// Deleting the stream ends the session.
	if err := env.idx.DeleteStream(ctx, "cam1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cr.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after DeleteStream: %v, want the end of the response", err)
	}
}

// TestGetMediaErrors: KVS's validation errors, unknown streams and
// fragments, the call limit.
func TestGetMediaErrors(t *testing.T) {
	var clock atomic.Int64 // Unix ns: the handler's clock, moved by hand
	clock.Store(time.Now().UnixNano())
	advance := func() { clock.Add(int64(time.Second)) }
	env := newMediaEnv(t, func(h *Handler) {
		h.GetMediaCallsPerSecond = 2
		h.GetMediaIdle = 100 * time.Millisecond
		h.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	cam2, err := env.idx.Latest(t.Context(), "cam2")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		body   any
		status int
		typ    string
	}{
		{"no selector", map[string]any{"StreamName": "cam1"}, 400, awsproto.InvalidArgumentException},
		{"no stream", map[string]any{"StartSelector": map[string]any{"StartSelectorType": "NOW"}}, 400, awsproto.InvalidArgumentException},
		{"bad type", selector("LATEST"), 400, awsproto.InvalidArgumentException},
		{"fragment number missing", selector("FRAGMENT_NUMBER"), 400, awsproto.InvalidArgumentException},
		{"fragment number not digits", selector("FRAGMENT_NUMBER", "AfterFragmentNumber", "12a"), 400, awsproto.InvalidArgumentException},
		{"timestamp missing", selector("SERVER_TIMESTAMP"), 400, awsproto.InvalidArgumentException},
		{"producer timestamp missing", selector("PRODUCER_TIMESTAMP"), 400, awsproto.InvalidArgumentException},
		{"token missing", selector("CONTINUATION_TOKEN"), 400, awsproto.InvalidArgumentException},
		{"token bad chars", selector("CONTINUATION_TOKEN", "ContinuationToken", "a b"), 400, awsproto.InvalidArgumentException},
		{"token not ours", selector("CONTINUATION_TOKEN", "ContinuationToken", "abc"), 400, awsproto.InvalidArgumentException},
		{"not JSON", []byte("{"), 400, "SerializationException"},
		{"unknown stream", map[string]any{"StreamName": "nope", "StartSelector": map[string]any{"StartSelectorType": "NOW"}}, 404, awsproto.ResourceNotFoundException},
		{"unknown fragment", selector("FRAGMENT_NUMBER", "AfterFragmentNumber", "999999999"), 404, awsproto.ResourceNotFoundException},
		{"another stream's fragment", selector("FRAGMENT_NUMBER", "AfterFragmentNumber", cam2.NumberString()), 404, awsproto.ResourceNotFoundException},
	}
	for _, c := range cases {
		resp := env.do(t, t.Context(), PathGetMedia, c.body)
		wantAWSError(t, c.name, resp, c.status, c.typ)
	}

	// The limit: 2 calls a second per stream, the clock standing still
	// (after a second for the calls above to be forgotten).
	advance()
	for i := range 2 {
		resp := env.do(t, t.Context(), PathGetMedia, selector("NOW"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d: HTTP %d", i+1, resp.StatusCode)
		}
		readAll(t, resp.Body)
	}
	msg := wantAWSError(t, "third call in a second", env.do(t, t.Context(), PathGetMedia, selector("NOW")), 400, ClientLimitExceededException)
	if !strings.Contains(msg, "throttled") {
		t.Errorf("limit message %q", msg)
	}
	other := map[string]any{"StreamName": "cam2", "StartSelector": map[string]any{"StartSelectorType": "NOW"}}
	if resp := env.do(t, t.Context(), PathGetMedia, other); resp.StatusCode != http.StatusOK {
		t.Errorf("another stream: HTTP %d, want 200 (the limit is per stream)", resp.StatusCode)
	}
	advance()
	if resp := env.do(t, t.Context(), PathGetMedia, selector("NOW")); resp.StatusCode != http.StatusOK {
		t.Errorf("a second later: HTTP %d, want 200", resp.StatusCode)
	}
	if st := env.h.Stats(); st.GetMediaThrottled != 1 || st.GetMediaStarted != 4 || st.MediaBytes == 0 {
		t.Errorf("stats %+v, want 1 throttled, 4 started, bytes sent", st)
	}
}

// TestUnknownOperation: a signed POST to a path that does not exist gets
// AWS's 404, never the web page's Basic challenge; a bad signature gets
// its SigV4 error; an unsigned request still reaches the web page.
func TestUnknownOperation(t *testing.T) {
	env := newMediaEnv(t, nil)
	for _, p := range []string{"/describeEdgeConfiguration", "/getHLSMasterPlaylist", "/nope/deeper"} {
		msg := wantAWSError(t, p, env.do(t, t.Context(), p, map[string]any{"StreamName": "cam1"}), 404, awsproto.UnknownOperationException)
		if !strings.Contains(msg, p) {
			t.Errorf("%s: message %q does not name the path", p, msg)
		}
	}
	resp, err := env.srv.Client().Do(env.signed(t, t.Context(), "/nope", []byte("{}"), "wrong-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	wantAWSError(t, "wrong secret", resp, 403, awsproto.InvalidSignatureException)
	plain, err := env.srv.Client().Post(env.srv.URL+"/nope", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	plain.Body.Close()
	if plain.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned POST: HTTP %d, want the web page's 401", plain.StatusCode)
	}
}

// TestGetMediaRate: a session is held to GetMediaBytesPerSecond. The
// bound checked is a lower one (the pacing cannot make it faster), which
// a loaded machine only makes easier to meet.
func TestGetMediaRate(t *testing.T) {
	var total int64
	env := newMediaEnv(t, func(h *Handler) { h.GetMediaIdle = 50 * time.Millisecond })
	for _, f := range env.frags {
		total += f.Size
	}
	rate := total / 2 // the whole stream in about 2 s
	env.h.GetMediaBytesPerSecond = rate
	start := time.Now()
	resp := env.do(t, t.Context(), PathGetMedia, selector("EARLIEST"))
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	// Each fragment goes when the bytes before it are due, so the last
	// one starts at (n - its size) / rate; output sizes are the sealed
	// ones give or take the headers and tags.
	var biggest int64
	for _, f := range env.frags {
		biggest = max(biggest, f.Size)
	}
	if min := time.Duration(float64(n-biggest-4096) / float64(rate) * float64(time.Second)); el < min {
		t.Errorf("%d bytes at %d B/s in %v, want at least %v", n, rate, el, min)
	}
}

// TestGetMediaForFragmentList: the fragments asked, in the order asked,
// with their tags; an unknown fragment is a ResourceNotFoundException.
func TestGetMediaForFragmentList(t *testing.T) {
	env := newMediaEnv(t, nil)
	fr := env.frags
	nums := []string{fr[2].NumberString(), fr[0].NumberString()}
	resp := env.do(t, t.Context(), PathGetMediaForFragmentList, map[string]any{"StreamName": "cam1", "Fragments": nums})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/webm" {
		t.Fatalf("HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	cs := readAll(t, resp.Body)
	if len(cs) != 2 || cs[0].number(t) != fr[2].Number || cs[1].number(t) != fr[0].Number {
		t.Fatalf("chunks %v, want fragments %v", cs, nums)
	}
	if cs[0].tags[mkv.TagServerTimestamp] != mkv.FormatTagTime(fr[2].ServerTime) || cs[0].tags[mkv.TagProducerTimestamp] != mkv.FormatTagTime(fr[2].ProducerTime) || cs[0].blocks == 0 {
		t.Errorf("chunk 1: %+v", cs[0])
	}
	cam2, err := env.idx.Latest(t.Context(), "cam2")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		body   any
		status int
		typ    string
	}{
		"unknown fragment":  {map[string]any{"StreamName": "cam1", "Fragments": []string{nums[0], "99999999"}}, 404, awsproto.ResourceNotFoundException},
		"other stream's":    {map[string]any{"StreamName": "cam1", "Fragments": []string{cam2.NumberString()}}, 404, awsproto.ResourceNotFoundException},
		"huge number":       {map[string]any{"StreamName": "cam1", "Fragments": []string{strings.Repeat("9", 40)}}, 404, awsproto.ResourceNotFoundException},
		"empty list":        {map[string]any{"StreamName": "cam1", "Fragments": []string{}}, 400, awsproto.InvalidArgumentException},
		"no list":           {map[string]any{"StreamName": "cam1"}, 400, awsproto.InvalidArgumentException},
		"not digits":        {map[string]any{"StreamName": "cam1", "Fragments": []string{"x1"}}, 400, awsproto.InvalidArgumentException},
		"unknown stream":    {map[string]any{"StreamName": "nope", "Fragments": nums}, 404, awsproto.ResourceNotFoundException},
		"1001 numbers":      {map[string]any{"StreamName": "cam1", "Fragments": make([]string, 1001)}, 400, awsproto.InvalidArgumentException},
		"neither name/ARN":  {map[string]any{"Fragments": nums}, 400, awsproto.InvalidArgumentException},
		"not JSON":          {[]byte(`{"Fragments":`), 400, "SerializationException"},
		"wrong member type": {[]byte(`{"StreamName":"cam1","Fragments":"1"}`), 400, "SerializationException"},
	} {
		wantAWSError(t, name, env.do(t, t.Context(), PathGetMediaForFragmentList, c.body), c.status, c.typ)
	}
}

func clipBody(stream, typ string, start, end time.Time) map[string]any {
	return map[string]any{"StreamName": stream, "ClipFragmentSelector": map[string]any{
		"FragmentSelectorType": typ,
		"TimestampRange":       map[string]any{"StartTimestamp": epochSeconds(start), "EndTimestamp": epochSeconds(end)},
	}}
}

// TestGetClip: an MP4 of the range; KVS's errors for an empty range and
// a stream without retention.
func TestGetClip(t *testing.T) {
	env := newMediaEnv(t, nil)
	fr := env.frags
	resp := env.do(t, t.Context(), PathGetClip, clipBody("cam1", "SERVER_TIMESTAMP", fr[0].ServerTime, fr[len(fr)-1].ServerTime))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("getClip: HTTP %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8 || string(b[4:8]) != "ftyp" {
		t.Fatalf("getClip: %d bytes, not an MP4", len(b))
	}
	for name, c := range map[string]struct {
		body   any
		status int
		typ    string
	}{
		"empty range":        {clipBody("cam1", "SERVER_TIMESTAMP", fr[0].ServerTime.Add(-time.Hour), fr[0].ServerTime.Add(-time.Minute)), 404, awsproto.ResourceNotFoundException},
		"no retention":       {clipBody("live0", "SERVER_TIMESTAMP", fr[0].ServerTime, time.Now()), 400, NoDataRetentionException},
		"end before start":   {clipBody("cam1", "SERVER_TIMESTAMP", fr[1].ServerTime, fr[0].ServerTime), 400, awsproto.InvalidArgumentException},
		"bad type":           {clipBody("cam1", "NOW", fr[0].ServerTime, fr[1].ServerTime), 400, awsproto.InvalidArgumentException},
		"no selector":        {map[string]any{"StreamName": "cam1"}, 400, awsproto.InvalidArgumentException},
		"no range":           {map[string]any{"StreamName": "cam1", "ClipFragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP"}}, 400, awsproto.InvalidArgumentException},
		"unknown stream":     {clipBody("nope", "SERVER_TIMESTAMP", fr[0].ServerTime, fr[1].ServerTime), 404, awsproto.ResourceNotFoundException},
		"producer, no match": {clipBody("cam1", "PRODUCER_TIMESTAMP", time.Unix(0, 0), time.Unix(1, 0)), 404, awsproto.ResourceNotFoundException},
	} {
		wantAWSError(t, name, env.do(t, t.Context(), PathGetClip, c.body), c.status, c.typ)
	}
}

// TestClipFragments: KVS cuts a clip at 200 fragments or 100 MB; the
// cut is tested with small limits.
func TestClipFragments(t *testing.T) {
	frags := make([]index.Fragment, 10)
	for i := range frags {
		frags[i] = index.Fragment{Number: uint64(i + 1), Size: 100}
	}
	seq := func(fn func(index.Fragment) error) error {
		for _, f := range frags {
			if err := fn(f); err != nil {
				return err
			}
		}
		return nil
	}
	for _, c := range []struct {
		n     int
		bytes int64
		want  int
	}{{200, 100 << 20, 10}, {4, 100 << 20, 4}, {200, 350, 3}, {200, 50, 1}, {3, 250, 2}} {
		got, err := clipFragments(seq, c.n, c.bytes)
		if err != nil || len(got) != c.want {
			t.Errorf("limits %d fragments, %d bytes: %d fragments, %v; want %d", c.n, c.bytes, len(got), err, c.want)
		}
	}
}

// TestGetMediaOutlivesReadTimeout: a session lasts longer than the
// server's ReadTimeout and ends idle with its token (net/http lifts the
// read deadline when the body has been read to its end and it starts
// watching the connection for the client going away).
func TestGetMediaOutlivesReadTimeout(t *testing.T) {
	env := newMediaEnv(t, func(h *Handler) { h.GetMediaIdle = 1500 * time.Millisecond })
	srv := httptest.NewUnstartedServer(env.srv.Config.Handler)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	env.srv = srv
	resp := env.do(t, t.Context(), PathGetMedia, selector("NOW"))
	cs := readAll(t, resp.Body)
	if len(cs) != 2 || cs[1].tags[mkv.TagContinuationToken] == "" {
		t.Fatalf("chunks %v, want the latest fragment and the idle end's token", cs)
	}
}

func imagesBody(stream string, start, end time.Time, kv ...any) map[string]any {
	b := map[string]any{"StreamName": stream, "ImageSelectorType": "SERVER_TIMESTAMP",
		"StartTimestamp": epochSeconds(start), "EndTimestamp": epochSeconds(end), "SamplingInterval": 1000, "Format": "JPEG"}
	for i := 0; i+1 < len(kv); i += 2 {
		b[kv[i].(string)] = kv[i+1]
	}
	return b
}

type imagesOut struct {
	Images []struct {
		TimeStamp    float64
		Error        string
		ImageContent string
	}
	NextToken string
}

func (env *mediaEnv) images(t *testing.T, body any) imagesOut {
	t.Helper()
	resp := env.do(t, t.Context(), PathGetImages, body)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("getImages %v: HTTP %d %s", body, resp.StatusCode, b)
	}
	var out imagesOut
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGetImages: pictures every SamplingInterval, decoded by ffmpeg,
// JPEG and PNG at the size asked; NO_MEDIA past the recording; paging.
func TestGetImages(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	env := newMediaEnv(t, func(h *Handler) { h.Thumbnails = &thumbnail.Maker{FFmpeg: ffmpeg} })
	fr := env.frags
	last := fr[len(fr)-1]
	start := fr[0].ServerTime
	end := last.ServerTime.Add(last.Duration + 1500*time.Millisecond) // two samples past the end
	got := env.images(t, imagesBody("cam1", start, end, "MaxResults", 100, "WidthPixels", 64))
	want := int(end.Sub(start)/time.Second) + 1
	if len(got.Images) != want || got.NextToken != "" {
		t.Fatalf("%d images, next %q; want %d and no NextToken", len(got.Images), got.NextToken, want)
	}
	for i, img := range got.Images {
		at := start.Add(time.Duration(i) * time.Second)
		if math.Abs(img.TimeStamp-epochSeconds(at)) > 0.001 {
			t.Errorf("image %d at %v, want %v", i, img.TimeStamp, epochSeconds(at))
		}
		inside := at.Before(last.ServerTime.Add(last.Duration))
		switch {
		case inside && img.Error != "":
			t.Errorf("image %d (%v): error %s", i, at, img.Error)
		case !inside && img.Error != "NO_MEDIA":
			t.Errorf("image %d after the recording: error %q, want NO_MEDIA", i, img.Error)
		case inside:
			b, _ := base64.StdEncoding.DecodeString(img.ImageContent)
			cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
			if err != nil || format != "jpeg" || cfg.Width != 64 {
				t.Errorf("image %d: %s %dx%d %v, want a JPEG 64 pixels wide", i, format, cfg.Width, cfg.Height, err)
			}
		}
	}
	png := env.images(t, imagesBody("cam1", start, start, "Format", "PNG", "WidthPixels", 40, "HeightPixels", 30))
	if len(png.Images) != 1 {
		t.Fatalf("PNG: %d images", len(png.Images))
	}
	b, _ := base64.StdEncoding.DecodeString(png.Images[0].ImageContent)
	if cfg, format, err := image.DecodeConfig(bytes.NewReader(b)); err != nil || format != "png" || cfg.Width != 40 || cfg.Height != 30 {
		t.Errorf("PNG: %s %dx%d %v, want a PNG of 40x30", format, cfg.Width, cfg.Height, err)
	}

	// Pages of 2 with NextToken cover the same samples.
	var paged []float64
	body := imagesBody("cam1", start, end, "MaxResults", 2)
	for range 100 {
		p := env.images(t, body)
		for _, img := range p.Images {
			paged = append(paged, img.TimeStamp)
		}
		if p.NextToken == "" {
			break
		}
		body["NextToken"] = p.NextToken
	}
	if len(paged) != want {
		t.Errorf("paged: %d images, want %d", len(paged), want)
	}

	for name, c := range map[string]struct {
		body   any
		status int
		typ    string
	}{
		"interval too short": {imagesBody("cam1", start, end, "SamplingInterval", 100), 400, awsproto.InvalidArgumentException},
		"bad format":         {imagesBody("cam1", start, end, "Format", "GIF"), 400, awsproto.InvalidArgumentException},
		"too wide":           {imagesBody("cam1", start, end, "WidthPixels", 4000), 400, awsproto.InvalidArgumentException},
		"bad quality":        {imagesBody("cam1", start, end, "FormatConfig", map[string]string{"JPEGQuality": "0"}), 400, awsproto.InvalidArgumentException},
		"end before start":   {imagesBody("cam1", end, start), 400, awsproto.InvalidArgumentException},
		"bad token":          {imagesBody("cam1", start, end, "NextToken", "x"), 400, awsproto.InvalidArgumentException},
		"unknown stream":     {imagesBody("nope", start, end), 404, awsproto.ResourceNotFoundException},
		"no retention":       {imagesBody("live0", start, end), 400, NoDataRetentionException},
	} {
		wantAWSError(t, name, env.do(t, t.Context(), PathGetImages, c.body), c.status, c.typ)
	}
	env.h.Thumbnails = &thumbnail.Maker{FFmpeg: filepath.Join(t.TempDir(), "no-ffmpeg")}
	wantAWSError(t, "without ffmpeg", env.do(t, t.Context(), PathGetImages, imagesBody("cam1", start, end)), 501, NotImplemented)
}

// TestGetMediaEndsWhenClientLeaves: a session following an idle stream
// ends when its client goes away (the request's context), not at the
// idle limit (a minute here).
func TestGetMediaEndsWhenClientLeaves(t *testing.T) {
	env := newMediaEnv(t, nil)
	ended := make(chan struct{})
	inner := env.srv.Config.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathGetMedia {
			defer close(ended) // also when the handler aborts
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	env.srv = srv
	resp, err := srv.Client().Do(env.signed(t, t.Context(), PathGetMedia, selector("NOW"), testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newChunkReader(resp.Body).next(); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // mid-response: the connection is closed
	srv.CloseClientConnections()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the session still runs 20 s after its client left")
	}
	if st := env.h.Stats(); st.GetMediaSessions != 0 || st.GetMediaStarted != 1 {
		t.Errorf("stats %+v after the session: want 0 open, 1 started", st)
	}
}

// plainOpener returns sealed blobs as they are: the test's blobs are
// plaintext.
type plainOpener struct{}

func (plainOpener) Open(_ context.Context, _ string, _ uint64, sealed []byte) ([]byte, error) {
	return bytes.Clone(sealed), nil
}

// TestGetClipCodecErrors: a codec MP4 cannot carry is
// UnsupportedStreamMediaTypeException, codec private data that cannot be
// read InvalidCodecPrivateDataException, as KVS answers them.
func TestGetClipCodecErrors(t *testing.T) {
	env := newEnv(t, func(h *Handler) { h.Opener = plainOpener{} })
	ctx := t.Context()
	at := testNow.Add(-time.Minute)
	for i, c := range []struct {
		stream, codecID string
		private         []byte
		typ             string
	}{
		{"odd", "V_KINEDGE_NOT_A_CODEC", nil, UnsupportedStreamMediaTypeException},
		{"badavc", mkv.CodecH264, []byte{1, 2, 3}, InvalidCodecPrivateDataException},
	} {
		if _, err := env.idx.CreateStream(ctx, index.Stream{Name: c.stream, RetentionHours: 24}); err != nil {
			t.Fatal(err)
		}
		tracks, err := mkv.AppendTracks(nil, []mkv.Track{{Number: 1, Type: mkv.TrackVideo, CodecID: c.codecID, CodecPrivate: c.private}})
		if err != nil {
			t.Fatal(err)
		}
		cluster := mkv.AppendClusterStart(nil, 0)
		if cluster, err = mkv.AppendSimpleBlock(cluster, 1, 0, true, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if err := mkv.FinishCluster(cluster); err != nil {
			t.Fatal(err)
		}
		file, err := mkv.AppendFragment(nil, &mkv.Fragment{Tracks: tracks, Cluster: cluster})
		if err != nil {
			t.Fatal(err)
		}
		blob, err := fragment.BlobFromMKV(file)
		if err != nil {
			t.Fatal(err)
		}
		n, err := env.idx.NextFragmentNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f := index.Fragment{Number: n, Stream: c.stream, ServerTime: at.Add(time.Duration(i) * time.Second), Duration: time.Second,
			Tracks: []index.TrackInfo{{Codec: c.codecID, Kind: "video"}}}
		if err := env.idx.PutFragment(ctx, f, blob); err != nil {
			t.Fatal(err)
		}
		resp := env.post(t, PathGetClip, clipBody(c.stream, "SERVER_TIMESTAMP", at.Add(-time.Second), at.Add(time.Minute)))
		if typ, _ := resp.body["__type"].(string); resp.status != http.StatusBadRequest || typ != c.typ {
			t.Errorf("%s: HTTP %d %v, want 400 %s", c.codecID, resp.status, resp.body, c.typ)
		}
	}
}
