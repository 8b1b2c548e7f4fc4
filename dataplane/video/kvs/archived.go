package kvs

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/index"
)

// maxFragmentList is the most fragment numbers a GetMediaForFragmentList
// takes (FragmentNumberList, 1 to 1000).
const maxFragmentList = 1000

// getMediaForFragmentListInput is the GetMediaForFragmentList request.
type getMediaForFragmentListInput struct {
	streamRef
	Fragments []string `json:"Fragments"`
}

// getMediaForFragmentList is KVS GetMediaForFragmentList (archived
// media): the fragments, in the order asked, each as a self-contained
// Matroska file with the fragment number, server and producer timestamp
// tags. Every fragment is looked up before the first byte, so an unknown
// one is a clean ResourceNotFoundException.
func (h *Handler) getMediaForFragmentList(ctx context.Context, w *mediaWriter, _ *http.Request, in *getMediaForFragmentListInput) error {
	var c checker
	if in.StreamName == "" && in.StreamARN == "" {
		c.required("streamName")
	}
	switch n := len(in.Fragments); {
	case in.Fragments == nil:
		c.required("fragments")
	case n < 1 || n > maxFragmentList:
		c.fail("fragments", fmt.Sprintf("%d fragment numbers", n), fmt.Sprintf("Member must have length between 1 and %d", maxFragmentList))
	default:
		for i, s := range in.Fragments {
			if !validFragmentNumber(s) {
				c.fail(fmt.Sprintf("fragments.%d.member", i+1), s, "Member must satisfy regular expression pattern: ^[0-9]+$")
			}
		}
	}
	if err := c.err(); err != nil {
		return err
	}
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return err
	}
	frags := make([]index.Fragment, len(in.Fragments))
	for i, s := range in.Fragments {
		if frags[i], err = h.fragmentOf(ctx, st, s); err != nil {
			return err
		}
	}
	w.contentType = mediaContentType
	src := replay.Source{Store: h.Index, Opener: h.Opener}
	var buf []byte
	for i := range frags {
		f := &frags[i]
		buf, err = src.AppendFragmentMKV(ctx, buf[:0], st.Name, replayFragment(*f), f.NumberString())
		if err != nil {
			if errors.Is(err, index.ErrFragmentNotFound) && !w.wrote {
				return fragmentNotFound(f.NumberString())
			}
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("kvs: getMediaForFragmentList write: %w", err)
		}
		w.Flush()
		clear(buf)
	}
	return nil
}

// getClipInput is the GetClip request.
type getClipInput struct {
	streamRef
	ClipFragmentSelector *struct {
		FragmentSelectorType string `json:"FragmentSelectorType"`
		TimestampRange       *struct {
			StartTimestamp *awsproto.Timestamp `json:"StartTimestamp"`
			EndTimestamp   *awsproto.Timestamp `json:"EndTimestamp"`
		} `json:"TimestampRange"`
	} `json:"ClipFragmentSelector"`
}

// getClip is KVS GetClip: one MP4 of the fragments whose selected
// timestamp lies in the range (as ListFragments selects them), at most
// the first 200 fragments or 100 MB of them (KVS's limits: the clip is
// cut there, not refused), through the same MP4 writer as the plain
// media API. Where the codecs change within the range the clip ends
// before the change.
func (h *Handler) getClip(ctx context.Context, w *mediaWriter, _ *http.Request, in *getClipInput) error {
	var c checker
	if in.StreamName == "" && in.StreamARN == "" {
		c.required("streamName")
	}
	var q index.Query
	switch sel := in.ClipFragmentSelector; {
	case sel == nil:
		c.required("clipFragmentSelector")
	default:
		switch sel.FragmentSelectorType {
		case serverTimestamp:
			q.By = index.ServerTime
		case producerTimestamp:
			q.By = index.ProducerTime
		case "":
			c.required("clipFragmentSelector.fragmentSelectorType")
		default:
			c.fail("clipFragmentSelector.fragmentSelectorType", sel.FragmentSelectorType, "Member must satisfy enum value set: [PRODUCER_TIMESTAMP, SERVER_TIMESTAMP]")
		}
		switch tr := sel.TimestampRange; {
		case tr == nil:
			c.required("clipFragmentSelector.timestampRange")
		case tr.StartTimestamp == nil:
			c.required("clipFragmentSelector.timestampRange.startTimestamp")
		case tr.EndTimestamp == nil:
			c.required("clipFragmentSelector.timestampRange.endTimestamp")
		default:
			q.Start, q.End = clampTime(tr.StartTimestamp.Time), clampTime(tr.EndTimestamp.Time)
			if !q.End.After(q.Start) {
				c.fail("clipFragmentSelector.timestampRange.endTimestamp", q.End.UTC().Format(time.RFC3339Nano), "Member must be after startTimestamp")
			}
		}
	}
	if err := c.err(); err != nil {
		return err
	}
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return err
	}
	if st.RetentionHours == 0 {
		return errorf(NoDataRetentionException, "The stream %s does not retain data (DataRetentionInHours is 0).", st.Name)
	}
	frags, err := clipFragments(func(fn func(index.Fragment) error) error {
		return h.Index.Iterate(ctx, st.Name, q, fn)
	}, maxClipFragments, maxClipBytes)
	if err != nil {
		return err
	}
	if len(frags) == 0 {
		return errorf(awsproto.ResourceNotFoundException, "No fragments found in the requested time range.")
	}
	seq := func(yield func(replay.Fragment, error) bool) {
		for _, f := range frags {
			if !yield(f, nil) {
				return
			}
		}
	}
	survey, err := replay.SurveyRange(seq)
	if err != nil {
		return err
	}
	w.contentType = "video/mp4"
	src := replay.Source{Store: h.Index, Opener: h.Opener}
	_, err = src.WriteMP4With(ctx, w, st.Name, replay.MP4Options{InBandParameters: survey.Resized}, replay.Before(iter.Seq2[replay.Fragment, error](seq), survey.Cut))
	switch {
	case err == nil || w.wrote:
		return err
	case errors.Is(err, replay.ErrUnsupportedMP4):
		return errorf(UnsupportedStreamMediaTypeException, "The media type of the stream cannot be had as MP4: %s.", trimReplay(err))
	case errors.Is(err, replay.ErrCodecConfig):
		return errorf(InvalidCodecPrivateDataException, "The codec private data of a track is not valid for an MP4 clip: %s.", trimReplay(err))
	case errors.Is(err, replay.ErrNoFragments), errors.Is(err, index.ErrFragmentNotFound):
		return errorf(awsproto.ResourceNotFoundException, "No fragments found in the requested time range.")
	}
	return err
}

// trimReplay returns err's text without the replay package's prefix.
func trimReplay(err error) string {
	s := err.Error()
	const p = "replay: "
	for len(s) > len(p) && s[:len(p)] == p {
		s = s[len(p):]
	}
	return s
}

// clipFragments returns the first fragments iterate yields, at most
// maxN of them and maxBytes (sealed sizes) together, but at least one.
func clipFragments(iterate func(func(index.Fragment) error) error, maxN int, maxBytes int64) ([]replay.Fragment, error) {
	var frags []replay.Fragment
	var size int64
	err := iterate(func(f index.Fragment) error {
		if len(frags) == maxN || len(frags) > 0 && size+f.Size > maxBytes {
			return errStop
		}
		frags = append(frags, replayFragment(f))
		size += f.Size
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return frags, nil
}
