package kvs

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/kinedge/kinedge/index"
)

func TestStreamLifecycle(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	c := env.client
	arn := env.create(t, &kinesisvideo.CreateStreamInput{
		StreamName:           aws.String("door-cam"),
		DeviceName:           aws.String("pi-4.garage"),
		MediaType:            aws.String("video/h264,audio/aac"),
		KmsKeyId:             aws.String("arn:aws:kms:eu-west-1:123456789012:alias/site-a"),
		DataRetentionInHours: aws.Int32(72),
		Tags:                 map[string]string{"site": "garage"},
	})
	if want := "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/door-cam/"; !strings.HasPrefix(arn, want) {
		t.Fatalf("StreamARN %q, want prefix %q", arn, want)
	}

	byName := env.describe(t, "door-cam").StreamInfo
	byARN, err := c.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	for _, si := range []*types.StreamInfo{byName, byARN.StreamInfo} {
		if aws.ToString(si.StreamName) != "door-cam" || aws.ToString(si.StreamARN) != arn ||
			aws.ToString(si.DeviceName) != "pi-4.garage" || aws.ToString(si.MediaType) != "video/h264,audio/aac" ||
			aws.ToString(si.KmsKeyId) != "arn:aws:kms:eu-west-1:123456789012:alias/site-a" ||
			aws.ToInt32(si.DataRetentionInHours) != 72 || si.Status != types.StatusActive ||
			!aws.ToTime(si.CreationTime).Equal(testNow) || aws.ToString(si.Version) == "" {
			t.Errorf("StreamInfo = %+v", *si)
		}
	}
	st, err := env.idx.Stream(ctx, "door-cam")
	if err != nil || st.KeyAlias != "arn:aws:kms:eu-west-1:123456789012:alias/site-a" || st.RetentionHours != 72 {
		t.Errorf("index stream = %+v, %v", st, err)
	}

	_, err = c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("door-cam")})
	wantErr[*types.ResourceInUseException](t, "create twice", err, http.StatusBadRequest)
	_, err = c.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("nope")})
	wantErr[*types.ResourceNotFoundException](t, "describe unknown", err, http.StatusNotFound)
	_, err = c.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: aws.String(arn + "1")})
	wantErr[*types.ResourceNotFoundException](t, "describe by another ARN", err, http.StatusNotFound)
	_, err = c.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("other"), StreamARN: aws.String(arn)})
	wantErr[*types.InvalidArgumentException](t, "describe name and ARN of two streams", err, http.StatusBadRequest)

	// UpdateStream: optimistic versions.
	v1 := aws.ToString(byName.Version)
	if _, err := c.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamName: aws.String("door-cam"), CurrentVersion: aws.String(v1),
		DeviceName: aws.String("pi-5"), MediaType: aws.String("video/h265")}); err != nil {
		t.Fatal(err)
	}
	si := env.describe(t, "door-cam").StreamInfo
	v2 := aws.ToString(si.Version)
	if v2 == v1 || aws.ToString(si.DeviceName) != "pi-5" || aws.ToString(si.MediaType) != "video/h265" || aws.ToInt32(si.DataRetentionInHours) != 72 {
		t.Errorf("after UpdateStream: %+v", *si)
	}
	_, err = c.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamARN: aws.String(arn), CurrentVersion: aws.String(v1), DeviceName: aws.String("pi-6")})
	wantErr[*types.VersionMismatchException](t, "UpdateStream stale version", err, http.StatusBadRequest)
	if got := aws.ToString(env.describe(t, "door-cam").StreamInfo.DeviceName); got != "pi-5" {
		t.Errorf("stale update changed DeviceName to %q", got)
	}

	// UpdateDataRetention.
	retention := func(op types.UpdateDataRetentionOperation, hours int32, version string) (string, error) {
		_, err := c.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamARN: aws.String(arn), CurrentVersion: aws.String(version),
			Operation: op, DataRetentionChangeInHours: aws.Int32(hours)})
		return aws.ToString(env.describe(t, "door-cam").StreamInfo.Version), err
	}
	v3, err := retention(types.UpdateDataRetentionOperationIncreaseDataRetention, 24, v2)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt32(env.describe(t, "door-cam").StreamInfo.DataRetentionInHours); got != 96 {
		t.Errorf("retention after +24: %d, want 96", got)
	}
	v4, err := retention(types.UpdateDataRetentionOperationDecreaseDataRetention, 90, v3)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt32(env.describe(t, "door-cam").StreamInfo.DataRetentionInHours); got != 6 {
		t.Errorf("retention after -90: %d, want 6", got)
	}
	_, err = retention(types.UpdateDataRetentionOperationDecreaseDataRetention, 7, v4)
	wantErr[*types.InvalidArgumentException](t, "decrease below 0", err, http.StatusBadRequest)
	_, err = retention(types.UpdateDataRetentionOperationIncreaseDataRetention, 87595, v4)
	wantErr[*types.InvalidArgumentException](t, "increase above 87600", err, http.StatusBadRequest)
	_, err = retention(types.UpdateDataRetentionOperationIncreaseDataRetention, 1, v3)
	wantErr[*types.VersionMismatchException](t, "retention with stale version", err, http.StatusBadRequest)
	v5, err := retention(types.UpdateDataRetentionOperationDecreaseDataRetention, 6, v4)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt32(env.describe(t, "door-cam").StreamInfo.DataRetentionInHours); got != 0 {
		t.Errorf("retention after -6: %d, want 0", got)
	}

	// GetDataEndpoint: the appliance itself, for the data APIs it serves.
	for _, api := range []types.APIName{types.APINameGetMedia, types.APINameListFragments, types.APINameGetMediaForFragmentList, types.APINameGetClip, types.APINameGetImages, types.APINameGetHlsStreamingSessionUrl, types.APINameGetDashStreamingSessionUrl} {
		out, err := c.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("door-cam"), APIName: api})
		if err != nil || aws.ToString(out.DataEndpoint) != env.srv.URL {
			t.Errorf("GetDataEndpoint %s = %v, %v, want %s", api, out, err, env.srv.URL)
		}
	}
	for _, api := range []types.APIName{types.APINamePutMedia} {
		_, err = c.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("door-cam"), APIName: api})
		wantErr[*types.InvalidArgumentException](t, "GetDataEndpoint "+string(api)+" (not served)", err, http.StatusBadRequest)
	}
	env.handler.ExtraDataAPIs = []string{string(types.APINamePutMedia)}
	if out, err := c.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("door-cam"), APIName: types.APINamePutMedia}); err != nil || aws.ToString(out.DataEndpoint) != env.srv.URL {
		t.Errorf("GetDataEndpoint PUT_MEDIA with ExtraDataAPIs = %v, %v", out, err)
	}
	_, err = c.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("nope"), APIName: types.APINameGetMedia})
	wantErr[*types.ResourceNotFoundException](t, "GetDataEndpoint unknown stream", err, http.StatusNotFound)
	_, err = c.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("door-cam"), APIName: "PUT_SOMETHING"})
	wantErr[*types.InvalidArgumentException](t, "GetDataEndpoint unknown API", err, http.StatusBadRequest)

	// DeleteStream: version checked, then gone with its tags.
	_, err = c.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: aws.String(arn), CurrentVersion: aws.String(v4)})
	wantErr[*types.VersionMismatchException](t, "delete stale version", err, http.StatusBadRequest)
	if _, err := c.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: aws.String(arn), CurrentVersion: aws.String(v5)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("door-cam")})
	wantErr[*types.ResourceNotFoundException](t, "describe deleted", err, http.StatusNotFound)
	_, err = c.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: aws.String(arn)})
	wantErr[*types.ResourceNotFoundException](t, "delete twice", err, http.StatusNotFound)
}

// TestStaleARN checks that a stream deleted and created again under the
// same name is not reachable through the old ARN.
func TestStaleARN(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	old := env.create(t, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam")})
	if _, err := env.client.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: aws.String(old)}); err != nil {
		t.Fatal(err)
	}
	// The index clock stands still: make the new ARN differ as a later
	// creation would.
	st, err := env.idx.CreateStream(ctx, index.Stream{Name: "cam"})
	if err != nil {
		t.Fatal(err)
	}
	stale := strings.TrimSuffix(st.ARN, "0") + "1"
	if stale == st.ARN {
		t.Fatal("test ARN did not change")
	}
	_, err = env.client.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: aws.String(stale)})
	wantErr[*types.ResourceNotFoundException](t, "delete by a stale ARN", err, http.StatusNotFound)
	_, err = env.client.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamARN: aws.String(stale), CurrentVersion: aws.String(st.Version), DeviceName: aws.String("d")})
	wantErr[*types.ResourceNotFoundException](t, "update by a stale ARN", err, http.StatusNotFound)
	if _, err := env.idx.Stream(ctx, "cam"); err != nil {
		t.Errorf("stream gone after requests with a stale ARN: %v", err)
	}
}

func TestCreateStreamRetention(t *testing.T) {
	tests := []struct {
		name      string
		def       int
		retention *int32
		want      int32
		invalid   bool
	}{
		{name: "absent", retention: nil, want: 24},
		{name: "absent-handler-default", def: 168, retention: nil, want: 168},
		{name: "zero", retention: aws.Int32(0), want: 0},
		{name: "one", retention: aws.Int32(1), want: 1},
		{name: "max", retention: aws.Int32(87600), want: 87600},
		{name: "over", retention: aws.Int32(87601), invalid: true},
		{name: "negative", retention: aws.Int32(-1), invalid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, func(h *Handler) { h.DefaultRetentionHours = tc.def })
			_, err := env.client.CreateStream(context.Background(), &kinesisvideo.CreateStreamInput{StreamName: aws.String("s"), DataRetentionInHours: tc.retention})
			if tc.invalid {
				wantErr[*types.InvalidArgumentException](t, "create", err, http.StatusBadRequest)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToInt32(env.describe(t, "s").StreamInfo.DataRetentionInHours); got != tc.want {
				t.Errorf("DataRetentionInHours = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	c := env.client
	env.create(t, &kinesisvideo.CreateStreamInput{StreamName: aws.String("ok")})
	long := strings.Repeat("a", 257)
	tests := []struct {
		name string
		call func() error
	}{
		{"name with a space", func() error {
			_, err := c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("a b")})
			return err
		}},
		{"name too long", func() error {
			_, err := c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(long)})
			return err
		}},
		{"empty name", func() error {
			_, err := c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("")})
			return err
		}},
		{"bad media type", func() error {
			_, err := c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("m"), MediaType: aws.String("h264")})
			return err
		}},
		{"bad device name", func() error {
			_, err := c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("d"), DeviceName: aws.String("pi 4")})
			return err
		}},
		{"KmsKeyId too long", func() error {
			_, err := c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("k"), KmsKeyId: aws.String(strings.Repeat("k", 2049))})
			return err
		}},
		{"reserved tag key", func() error {
			_, err := c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("t"), Tags: map[string]string{"aws:x": "y"}})
			return err
		}},
		{"describe bad ARN", func() error {
			_, err := c.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: aws.String("arn:aws:kinesis:eu-west-1:1:stream/ok")})
			return err
		}},
		{"describe nothing", func() error {
			_, err := c.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{})
			return err
		}},
		{"update bad version", func() error {
			_, err := c.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamName: aws.String("ok"), CurrentVersion: aws.String("v-1")})
			return err
		}},
		{"retention change 0", func() error {
			_, err := c.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamName: aws.String("ok"), CurrentVersion: aws.String("1"),
				Operation: types.UpdateDataRetentionOperationIncreaseDataRetention, DataRetentionChangeInHours: aws.Int32(0)})
			return err
		}},
		{"retention bad operation", func() error {
			_, err := c.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamName: aws.String("ok"), CurrentVersion: aws.String("1"),
				Operation: "DOUBLE", DataRetentionChangeInHours: aws.Int32(1)})
			return err
		}},
		{"list MaxResults 0", func() error {
			_, err := c.ListStreams(ctx, &kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(0)})
			return err
		}},
		{"list MaxResults 10001", func() error {
			_, err := c.ListStreams(ctx, &kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(10001)})
			return err
		}},
		{"list bad NextToken", func() error {
			_, err := c.ListStreams(ctx, &kinesisvideo.ListStreamsInput{NextToken: aws.String("bogus")})
			return err
		}},
		{"list bad operator", func() error {
			_, err := c.ListStreams(ctx, &kinesisvideo.ListStreamsInput{StreamNameCondition: &types.StreamNameCondition{ComparisonOperator: "ENDS_WITH", ComparisonValue: aws.String("x")}})
			return err
		}},
		{"untag no keys", func() error {
			_, err := c.UntagStream(ctx, &kinesisvideo.UntagStreamInput{StreamName: aws.String("ok"), TagKeyList: []string{}})
			return err
		}},
		{"tag no tags", func() error {
			_, err := c.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("ok"), Tags: map[string]string{}})
			return err
		}},
		{"tag value with a control character", func() error {
			_, err := c.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("ok"), Tags: map[string]string{"k": "a\nb"}})
			return err
		}},
		{"list tags with a NextToken", func() error {
			_, err := c.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("ok"), NextToken: aws.String("x")})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr[*types.InvalidArgumentException](t, tc.name, tc.call(), http.StatusBadRequest)
		})
	}
	streams, err := env.idx.Streams(ctx)
	if err != nil || len(streams) != 1 {
		t.Errorf("streams after invalid requests: %v, %v; want only \"ok\"", streams, err)
	}
}

func TestListStreams(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	var want []string
	for i := 0; i < 23; i++ {
		name := fmt.Sprintf("cam-%02d", i)
		if i%3 == 0 {
			name = fmt.Sprintf("mic-%02d", i)
		}
		want = append(want, name)
		env.create(t, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name)})
	}
	list := func(in *kinesisvideo.ListStreamsInput) (names []string, pages int) {
		t.Helper()
		p := kinesisvideo.NewListStreamsPaginator(env.client, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if in.MaxResults != nil && len(out.StreamInfoList) > int(*in.MaxResults) {
				t.Errorf("page of %d, MaxResults %d", len(out.StreamInfoList), *in.MaxResults)
			}
			for _, si := range out.StreamInfoList {
				names = append(names, aws.ToString(si.StreamName))
				if aws.ToString(si.StreamARN) == "" || aws.ToString(si.Version) == "" || si.Status != types.StatusActive {
					t.Errorf("StreamInfo %+v", si)
				}
			}
		}
		return names, pages
	}
	filter := func(prefix string) []string {
		var out []string
		for _, n := range want {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return sortedCopy(out)
	}
	tests := []struct {
		name      string
		in        kinesisvideo.ListStreamsInput
		want      []string
		wantPages int
	}{
		{"all in one page", kinesisvideo.ListStreamsInput{}, filter(""), 1},
		{"pages of 5", kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(5)}, filter(""), 5},
		{"pages of 1", kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(1)}, filter(""), 23},
		{"exact pages", kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(23)}, filter(""), 1},
		{"BEGINS_WITH cam-", kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(4), StreamNameCondition: &types.StreamNameCondition{
			ComparisonOperator: types.ComparisonOperatorBeginsWith, ComparisonValue: aws.String("cam-")}}, filter("cam-"), 4},
		{"BEGINS_WITH mic-1", kinesisvideo.ListStreamsInput{StreamNameCondition: &types.StreamNameCondition{
			ComparisonOperator: types.ComparisonOperatorBeginsWith, ComparisonValue: aws.String("mic-1")}}, filter("mic-1"), 1},
		{"BEGINS_WITH nothing", kinesisvideo.ListStreamsInput{StreamNameCondition: &types.StreamNameCondition{
			ComparisonOperator: types.ComparisonOperatorBeginsWith, ComparisonValue: aws.String("zzz")}}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := list(&tc.in)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("names %v, want %v", got, tc.want)
			}
			if pages != tc.wantPages {
				t.Errorf("%d pages, want %d", pages, tc.wantPages)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestTags(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	c := env.client
	arn := env.create(t, &kinesisvideo.CreateStreamInput{StreamName: aws.String("yard"), Tags: map[string]string{"site": "a", "owner": "ops"}})
	tags := func(in *kinesisvideo.ListTagsForStreamInput) map[string]string {
		t.Helper()
		out, err := c.ListTagsForStream(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.NextToken != nil {
			t.Errorf("NextToken %q", *out.NextToken)
		}
		return out.Tags
	}
	eq := func(what string, got, want map[string]string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: tags %v, want %v", what, got, want)
		}
	}
	eq("created", tags(&kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("yard")}), map[string]string{"site": "a", "owner": "ops"})
	if _, err := c.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamARN: aws.String(arn), Tags: map[string]string{"site": "b", "zone": "Übergang 2", "empty": ""}}); err != nil {
		t.Fatal(err)
	}
	eq("tagged", tags(&kinesisvideo.ListTagsForStreamInput{StreamARN: aws.String(arn)}), map[string]string{"site": "b", "owner": "ops", "zone": "Übergang 2", "empty": ""})
	if _, err := c.UntagStream(ctx, &kinesisvideo.UntagStreamInput{StreamName: aws.String("yard"), TagKeyList: []string{"owner", "absent"}}); err != nil {
		t.Fatal(err)
	}
	eq("untagged", tags(&kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("yard")}), map[string]string{"site": "b", "zone": "Übergang 2", "empty": ""})

	// At most 50 tags per stream, counted after the merge.
	many := map[string]string{}
	for i := 0; i < 47; i++ {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	if _, err := c.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("yard"), Tags: many}); err != nil {
		t.Fatal(err)
	}
	_, err := c.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("yard"), Tags: map[string]string{"one-more": "x"}})
	wantErr[*types.TagsPerResourceExceededLimitException](t, "51st tag", err, http.StatusBadRequest)
	if got := len(tags(&kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("yard")})); got != 50 {
		t.Errorf("%d tags after the refused one, want 50", got)
	}
	many["k99"], many["k98"], many["k97"], many["k96"] = "", "", "", ""
	_, err = c.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("crowded"), Tags: many})
	wantErr[*types.TagsPerResourceExceededLimitException](t, "create with 51 tags", err, http.StatusBadRequest)

	_, err = c.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("nope"), Tags: map[string]string{"a": "b"}})
	wantErr[*types.ResourceNotFoundException](t, "tag unknown stream", err, http.StatusNotFound)
	_, err = c.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("nope")})
	wantErr[*types.ResourceNotFoundException](t, "list tags of unknown stream", err, http.StatusNotFound)

	// A new stream under the same name starts without tags.
	if _, err := c.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	env.create(t, &kinesisvideo.CreateStreamInput{StreamName: aws.String("yard")})
	eq("recreated", tags(&kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("yard")}), map[string]string{})
}

// TestListStreamsVisible: Visible hides streams before paging, so the
// pages together list exactly the visible streams, each page full.
func TestListStreamsVisible(t *testing.T) {
	var prefix atomic.Value // set between requests, read by the server's goroutines
	prefix.Store("")
	env := newEnv(t, func(h *Handler) {
		h.Visible = func(_ context.Context, name string) bool { return strings.HasPrefix(name, prefix.Load().(string)) }
	})
	for _, name := range []string{"a1", "b1", "a2", "b2", "a3"} {
		env.create(t, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name)})
	}
	list := func() (names []string, pages int) {
		t.Helper()
		p := kinesisvideo.NewListStreamsPaginator(env.client, &kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, si := range out.StreamInfoList {
				names = append(names, aws.ToString(si.StreamName))
			}
		}
		return names, pages
	}
	prefix.Store("a")
	if names, pages := list(); strings.Join(names, ",") != "a1,a2,a3" || pages != 2 {
		t.Fatalf("%d pages listing %q, want a1,a2,a3 in 2", pages, names)
	}
	prefix.Store("none")
	if names, _ := list(); len(names) != 0 {
		t.Fatalf("nothing visible: %q", names)
	}
}
