package kvs

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/dataplane/video/thumbnail"
	"github.com/kinedge/kinedge/index"
)

// Limits of GetImages (KVS archived media API reference).
const (
	minSamplingInterval = 200 // ms
	maxImageWidth       = 3840
	maxImageHeight      = 2160
	maxImagesPage       = 100
	defaultImagesPage   = 25
)

// Image errors of GetImages (ImageError).
const (
	imageNoMedia    = "NO_MEDIA"
	imageMediaError = "MEDIA_ERROR"
)

// getImagesInput is the GetImages request.
type getImagesInput struct {
	streamRef
	ImageSelectorType string              `json:"ImageSelectorType"`
	StartTimestamp    *awsproto.Timestamp `json:"StartTimestamp"`
	EndTimestamp      *awsproto.Timestamp `json:"EndTimestamp"`
	SamplingInterval  *int64              `json:"SamplingInterval"`
	Format            string              `json:"Format"`
	FormatConfig      map[string]string   `json:"FormatConfig"`
	WidthPixels       *int64              `json:"WidthPixels"`
	HeightPixels      *int64              `json:"HeightPixels"`
	MaxResults        *int64              `json:"MaxResults"`
	NextToken         string              `json:"NextToken"`
}

type imageJSON struct {
	TimeStamp    awsproto.Timestamp `json:"TimeStamp"`
	Error        string             `json:"Error,omitempty"`
	ImageContent string             `json:"ImageContent,omitempty"`
}

type getImagesOutput struct {
	Images    []imageJSON `json:"Images"`
	NextToken string      `json:"NextToken,omitempty"`
}

// getImages is KVS GetImages: a picture of the stream every
// SamplingInterval from StartTimestamp to EndTimestamp (both included),
// each the video keyframe at or before the sample time within the
// fragment that holds it (the appliance stores whole fragments; KVS may
// pick a later frame), decoded by ffmpeg (thumbnail.Maker, its cache and
// concurrency limit shared with the web page's pictures). A sample in a
// gap is the image error NO_MEDIA, a frame that does not decode
// MEDIA_ERROR. Pages hold MaxResults images (25 by default, at most 100);
// NextToken carries the next sample's index.
func (h *Handler) getImages(ctx context.Context, _ *http.Request, in *getImagesInput) (any, error) {
	var c checker
	if in.StreamName == "" && in.StreamARN == "" {
		c.required("streamName")
	}
	by := index.ServerTime
	switch in.ImageSelectorType {
	case serverTimestamp:
	case producerTimestamp:
		by = index.ProducerTime
	case "":
		c.required("imageSelectorType")
	default:
		c.fail("imageSelectorType", in.ImageSelectorType, "Member must satisfy enum value set: [PRODUCER_TIMESTAMP, SERVER_TIMESTAMP]")
	}
	var start, end time.Time
	switch {
	case in.StartTimestamp == nil:
		c.required("startTimestamp")
	case in.EndTimestamp == nil:
		c.required("endTimestamp")
	default:
		start, end = clampTime(in.StartTimestamp.Time), clampTime(in.EndTimestamp.Time)
		if end.Before(start) {
			c.fail("endTimestamp", end.UTC().Format(time.RFC3339Nano), "Member must not be before startTimestamp")
		}
	}
	var interval time.Duration
	switch {
	case in.SamplingInterval == nil:
		c.required("samplingInterval")
	case *in.SamplingInterval < minSamplingInterval:
		c.fail("samplingInterval", itoa(*in.SamplingInterval), fmt.Sprintf("Member must have value greater than or equal to %d", minSamplingInterval))
	default:
		interval = time.Duration(min(*in.SamplingInterval, int64(100*365*24*time.Hour/time.Millisecond))) * time.Millisecond
	}
	var o thumbnail.Options
	switch in.Format {
	case "JPEG":
	case "PNG":
		o.PNG = true
	case "":
		c.required("format")
	default:
		c.fail("format", in.Format, "Member must satisfy enum value set: [JPEG, PNG]")
	}
	for k, v := range in.FormatConfig {
		if k != "JPEGQuality" {
			c.fail("formatConfig", k, "Member must satisfy enum value set: [JPEGQuality]")
			continue
		}
		q, err := strconv.Atoi(v)
		if err != nil || q < 1 || q > 100 {
			c.fail("formatConfig.JPEGQuality", v, "Member must be an integer between 1 and 100")
		} else if !o.PNG {
			o.Quality = q
		}
	}
	if p := in.WidthPixels; p != nil {
		if *p < 1 || *p > maxImageWidth {
			c.fail("widthPixels", itoa(*p), fmt.Sprintf("Member must have value between 1 and %d", maxImageWidth))
		} else {
			o.Width = int(*p)
		}
	}
	if p := in.HeightPixels; p != nil {
		if *p < 1 || *p > maxImageHeight {
			c.fail("heightPixels", itoa(*p), fmt.Sprintf("Member must have value between 1 and %d", maxImageHeight))
		} else {
			o.Height = int(*p)
		}
	}
	page := int64(defaultImagesPage)
	if p := in.MaxResults; p != nil {
		if *p < 1 || *p > maxImagesPage {
			c.fail("maxResults", itoa(*p), fmt.Sprintf("Member must have value between 1 and %d", maxImagesPage))
		} else {
			page = *p
		}
	}
	var first uint64
	if in.NextToken != "" {
		b, err := base64.StdEncoding.DecodeString(in.NextToken)
		if err != nil || len(b) != 8 {
			c.fail("nextToken", in.NextToken, "Member must be a NextToken returned by GetImages")
		} else {
			first = binary.BigEndian.Uint64(b)
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if st.RetentionHours == 0 {
		return nil, errorf(NoDataRetentionException, "The stream %s does not retain data (DataRetentionInHours is 0).", st.Name)
	}
	if h.Opener == nil {
		return nil, ErrNoOpener
	}
	if h.Thumbnails == nil {
		return nil, errorf(NotImplemented, "GetImages is not set up on this appliance.")
	}
	if err := h.Thumbnails.Available(); err != nil {
		return nil, errorf(NotImplemented, "GetImages needs ffmpeg to decode frames, which is not installed on this appliance (Debian: apt install ffmpeg).")
	}
	samples := uint64(end.Sub(start)/interval) + 1
	out := getImagesOutput{Images: []imageJSON{}}
	src := replay.Source{Store: h.Index, Opener: h.Opener}
	k := first
	for ; k < samples && int64(len(out.Images)) < page; k++ {
		t := start.Add(time.Duration(k) * interval)
		img := imageJSON{TimeStamp: awsproto.Timestamp{Time: t}}
		pic, err := h.picture(ctx, src, st.Name, by, t, o)
		switch {
		case errors.Is(err, index.ErrFragmentNotFound):
			img.Error = imageNoMedia
		case errors.Is(err, replay.ErrNoVideo), errors.Is(err, thumbnail.ErrDecode):
			img.Error = imageMediaError
		case err != nil:
			return nil, err
		default:
			img.ImageContent = base64.StdEncoding.EncodeToString(pic)
		}
		out.Images = append(out.Images, img)
	}
	if k < samples {
		out.NextToken = base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, k))
	}
	return out, nil
}

// picture returns the picture of stream at t (by the selected
// timestamp), or an error wrapping index.ErrFragmentNotFound when no
// fragment holds t.
func (h *Handler) picture(ctx context.Context, src replay.Source, stream string, by index.TimestampType, t time.Time, o thumbnail.Options) ([]byte, error) {
	frags, _, err := h.Index.List(ctx, stream, index.Query{By: by, Start: clampTime(t.Add(-maxFragmentLookback)), End: t})
	if err != nil {
		return nil, err
	}
	if len(frags) == 0 {
		return nil, index.ErrFragmentNotFound
	}
	f := frags[len(frags)-1]
	at := t // server time in the fragment
	begin := f.ServerTime
	if by == index.ProducerTime {
		begin = f.ProducerTime
		at = f.ServerTime.Add(t.Sub(f.ProducerTime))
	}
	if !begin.Add(f.Duration).After(t) {
		return nil, index.ErrFragmentNotFound
	}
	frame, _, i, err := src.Keyframe(ctx, stream, replayFragment(f), at)
	if err != nil {
		return nil, err
	}
	defer clear(frame)
	format := "jpeg"
	if o.PNG {
		format = "png"
	}
	key := fmt.Sprintf("kvs/%s/%d/%d/%s/%dx%d/q%d", stream, f.Number, i, format, o.Width, o.Height, o.Quality)
	return h.Thumbnails.Picture(ctx, key, frame, o)
}
