package kvs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/index"
)

// putFragments stores n fragments of stream, 2 s apart in server time
// from an hour before testNow, with producer times in the reverse order,
// and returns them in server-time order.
func putFragments(t testing.TB, idx *index.Index, stream string, n int) []index.Fragment {
	t.Helper()
	ctx := context.Background()
	if _, err := idx.CreateStream(ctx, index.Stream{Name: stream}); err != nil {
		t.Fatal(err)
	}
	base := testNow.Add(-time.Hour)
	var out []index.Fragment
	for i := 0; i < n; i++ {
		num, err := idx.NextFragmentNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f := index.Fragment{
			Number:       num,
			Stream:       stream,
			ServerTime:   base.Add(time.Duration(i)*2*time.Second + 250*time.Millisecond),
			ProducerTime: base.Add(-time.Duration(i)*2*time.Second - 1500*time.Millisecond),
			Duration:     2 * time.Second,
		}
		if err := idx.PutFragment(ctx, f, []byte(strings.Repeat("x", 100+i))); err != nil {
			t.Fatal(err)
		}
		f.Size = int64(100 + i)
		out = append(out, f)
	}
	return out
}

// epoch is t as the JSON number KVS sends: epoch seconds with a
// millisecond fraction.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// checkFragment compares one element of a raw ListFragments response with f.
func checkFragment(t *testing.T, got any, f index.Fragment) {
	t.Helper()
	m, ok := got.(map[string]any)
	if !ok {
		t.Fatalf("fragment %v is not an object", got)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := "FragmentLengthInMilliseconds,FragmentNumber,FragmentSizeInBytes,ProducerTimestamp,ServerTimestamp"; strings.Join(keys, ",") != want {
		t.Errorf("fragment members %v, want %s", keys, want)
	}
	num := func(k string) float64 {
		n, ok := m[k].(json.Number)
		if !ok {
			t.Errorf("%s = %#v, want a JSON number", k, m[k])
			return 0
		}
		v, _ := n.Float64()
		return v
	}
	if m["FragmentNumber"] != strconv.FormatUint(f.Number, 10) {
		t.Errorf("FragmentNumber %#v, want the string %d", m["FragmentNumber"], f.Number)
	}
	if got := num("FragmentSizeInBytes"); got != float64(f.Size) {
		t.Errorf("FragmentSizeInBytes %v, want %d", got, f.Size)
	}
	if got := num("FragmentLengthInMilliseconds"); got != 2000 {
		t.Errorf("FragmentLengthInMilliseconds %v, want 2000", got)
	}
	if got := num("ServerTimestamp"); got != epoch(f.ServerTime) {
		t.Errorf("ServerTimestamp %v, want %v", got, epoch(f.ServerTime))
	}
	if got := num("ProducerTimestamp"); got != epoch(f.ProducerTime) {
		t.Errorf("ProducerTimestamp %v, want %v", got, epoch(f.ProducerTime))
	}
}

// listAll follows NextToken (sent alone, as KVS allows) from a first
// request and returns the fragment numbers and the page sizes.
func listAll(t *testing.T, env *testEnv, first map[string]any, byNumber map[string]index.Fragment) (nums []string, pages []int) {
	t.Helper()
	req := first
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("more than 100 pages")
		}
		resp := env.post(t, PathListFragments, req)
		if resp.status != http.StatusOK {
			t.Fatalf("ListFragments %v: HTTP %d %s", req, resp.status, resp.raw)
		}
		frags, ok := resp.body["Fragments"].([]any)
		if !ok {
			t.Fatalf("Fragments %#v is not an array", resp.body["Fragments"])
		}
		pages = append(pages, len(frags))
		for _, f := range frags {
			n := f.(map[string]any)["FragmentNumber"].(string)
			checkFragment(t, f, byNumber[n])
			nums = append(nums, n)
		}
		tok, _ := resp.body["NextToken"].(string)
		if tok == "" {
			return nums, pages
		}
		req = map[string]any{"NextToken": tok}
		for _, k := range []string{"StreamName", "StreamARN", "MaxResults"} {
			if v, ok := first[k]; ok {
				req[k] = v
			}
		}
	}
}

func TestListFragments(t *testing.T) {
	env := newEnv(t, nil)
	frags := putFragments(t, env.idx, "cam", 25)
	putFragments(t, env.idx, "other", 3)
	byNumber := map[string]index.Fragment{}
	var serverOrder, producerOrder []string
	for _, f := range frags {
		byNumber[f.NumberString()] = f
		serverOrder = append(serverOrder, f.NumberString())
		producerOrder = append([]string{f.NumberString()}, producerOrder...)
	}
	selector := func(typ string, start, end time.Time) map[string]any {
		return map[string]any{"FragmentSelectorType": typ, "TimestampRange": map[string]any{"StartTimestamp": epoch(start), "EndTimestamp": epoch(end)}}
	}
	tests := []struct {
		name      string
		req       map[string]any
		want      []string
		wantPages []int
	}{
		{"no selector", map[string]any{"StreamName": "cam"}, serverOrder, []int{25}},
		{"server, pages of 10", map[string]any{"StreamName": "cam", "MaxResults": 10,
			"FragmentSelector": selector("SERVER_TIMESTAMP", testNow.Add(-2*time.Hour), testNow)}, serverOrder, []int{10, 10, 5}},
		{"server, pages of 25", map[string]any{"StreamName": "cam", "MaxResults": 25,
			"FragmentSelector": selector("SERVER_TIMESTAMP", testNow.Add(-2*time.Hour), testNow)}, serverOrder, []int{25}},
		{"server sub-range, both ends included", map[string]any{"StreamName": "cam", "MaxResults": 2,
			"FragmentSelector": selector("SERVER_TIMESTAMP", frags[5].ServerTime, frags[9].ServerTime)}, serverOrder[5:10], []int{2, 2, 1}},
		{"producer, by ARN, pages of 7", map[string]any{"StreamARN": "", "MaxResults": 7,
			"FragmentSelector": selector("PRODUCER_TIMESTAMP", testNow.Add(-2*time.Hour), testNow)}, producerOrder, []int{7, 7, 7, 4}},
		{"producer sub-range", map[string]any{"StreamName": "cam",
			"FragmentSelector": selector("PRODUCER_TIMESTAMP", frags[9].ProducerTime, frags[5].ProducerTime)}, producerOrder[15:20], []int{5}},
		{"empty range", map[string]any{"StreamName": "cam",
			"FragmentSelector": selector("SERVER_TIMESTAMP", testNow.Add(-10*time.Minute), testNow)}, nil, []int{0}},
	}
	st, err := env.idx.Stream(context.Background(), "cam")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.req["StreamARN"]; ok {
				tc.req["StreamARN"] = st.ARN
			}
			nums, pages := listAll(t, env, tc.req, byNumber)
			if strings.Join(nums, ",") != strings.Join(tc.want, ",") {
				t.Errorf("fragments %v, want %v", nums, tc.want)
			}
			if fmt.Sprint(pages) != fmt.Sprint(tc.wantPages) {
				t.Errorf("pages %v, want %v", pages, tc.wantPages)
			}
		})
	}
}

func TestListFragmentsErrors(t *testing.T) {
	env := newEnv(t, nil)
	putFragments(t, env.idx, "cam", 3)
	putFragments(t, env.idx, "other", 3)
	first := env.post(t, PathListFragments, map[string]any{"StreamName": "other", "MaxResults": 1})
	otherToken, _ := first.body["NextToken"].(string)
	if otherToken == "" {
		t.Fatalf("no NextToken in %s", first.raw)
	}
	rng := map[string]any{"StartTimestamp": epoch(testNow.Add(-time.Hour)), "EndTimestamp": epoch(testNow)}
	tests := []struct {
		name   string
		body   any
		status int
		typ    string
	}{
		{"unknown stream", map[string]any{"StreamName": "nope"}, 404, "ResourceNotFoundException"},
		{"unknown ARN", map[string]any{"StreamARN": "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/cam/1"}, 404, "ResourceNotFoundException"},
		{"no stream", map[string]any{}, 400, "InvalidArgumentException"},
		{"MaxResults 0", map[string]any{"StreamName": "cam", "MaxResults": 0}, 400, "InvalidArgumentException"},
		{"MaxResults 1001", map[string]any{"StreamName": "cam", "MaxResults": 1001}, 400, "InvalidArgumentException"},
		{"bad NextToken", map[string]any{"StreamName": "cam", "NextToken": "AAAA"}, 400, "InvalidArgumentException"},
		{"NextToken of another stream", map[string]any{"StreamName": "cam", "NextToken": otherToken}, 400, "InvalidArgumentException"},
		{"selector without range", map[string]any{"StreamName": "cam", "FragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP"}}, 400, "InvalidArgumentException"},
		{"selector without type", map[string]any{"StreamName": "cam", "FragmentSelector": map[string]any{"TimestampRange": rng}}, 400, "InvalidArgumentException"},
		{"unknown selector type", map[string]any{"StreamName": "cam", "FragmentSelector": map[string]any{"FragmentSelectorType": "ARRIVAL", "TimestampRange": rng}}, 400, "InvalidArgumentException"},
		{"end before start", map[string]any{"StreamName": "cam", "FragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
			"TimestampRange": map[string]any{"StartTimestamp": epoch(testNow), "EndTimestamp": epoch(testNow.Add(-time.Hour))}}}, 400, "InvalidArgumentException"},
		{"range without end", map[string]any{"StreamName": "cam", "FragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
			"TimestampRange": map[string]any{"StartTimestamp": epoch(testNow)}}}, 400, "InvalidArgumentException"},
		{"timestamp not a number", map[string]any{"StreamName": "cam", "FragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
			"TimestampRange": map[string]any{"StartTimestamp": "yesterday", "EndTimestamp": 1}}}, 400, "SerializationException"},
		{"not JSON", []byte(`{"StreamName":`), 400, "SerializationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.post(t, PathListFragments, tc.body)
			if resp.status != tc.status {
				t.Errorf("HTTP %d, want %d (%s)", resp.status, tc.status, resp.raw)
			}
			if got := resp.header.Get("X-Amzn-ErrorType"); got != tc.typ+":" {
				t.Errorf("X-Amzn-ErrorType %q, want %q", got, tc.typ+":")
			}
			if resp.body["__type"] != tc.typ || resp.body["message"] == "" || resp.body["message"] == nil {
				t.Errorf("body %s", resp.raw)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if resp.header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId")
			}
		})
	}
}

// TestUnsigned checks that every operation sits behind the middleware.
func TestUnsigned(t *testing.T) {
	env := newEnv(t, nil)
	for _, p := range Paths() {
		resp, err := env.srv.Client().Post(env.srv.URL+p, "application/json", strings.NewReader(`{"StreamName":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("unsigned POST %s: HTTP %d, want 403", p, resp.StatusCode)
		}
		resp, err = env.srv.Client().Get(env.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: HTTP %d, want 405", p, resp.StatusCode)
		}
	}
}
