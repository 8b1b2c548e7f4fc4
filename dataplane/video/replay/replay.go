// Package replay turns stored, sealed fragments back into media for people
// and players: one continuous Matroska stream for a time range, written
// fragment by fragment (never built in memory), and self-contained
// single-fragment files with the KVS fragment tags.
//
// A continuous MKV has one EBML header, a Segment of unknown size, an Info
// whose DateUTC is the server time of the first fragment, the Tracks of the
// first fragment, then each fragment's cluster with its timecode set to the
// fragment's server time minus the first fragment's (milliseconds), so gaps
// in the recording stay gaps in the file and a player's clock reads time
// since the range's first fragment. Later fragments whose tracks differ
// (a camera changed resolution) keep playing when the codec carries its
// parameter sets in-band, as H.264 and H.265 keyframes do here; a change
// of codec ends the output early with ErrTracksChanged. SurveyRange finds
// such a change in the index's metadata before the first byte, so that a
// caller ends the file there cleanly (replay_range.go, and
// docs/replay-across-changes.md for what players see).
//
// The MP4 export (replay_mp4.go) and its HLS pieces (WriteMP4Init,
// WriteMP4Segment) share one path from stored fragment to timed samples;
// WriteTSSegment runs that path too and only writes another container,
// MPEG-TS (replay_ts_segment.go).
package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"slices"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/media"
)

// Errors of the replay package.
var (
	// ErrNoFragments is returned when the range holds no fragment; nothing
	// has been written then.
	ErrNoFragments = errors.New("replay: no fragments in the range")
	// ErrTracksChanged ends a continuous output at a fragment whose codecs
	// differ from the first fragment's.
	ErrTracksChanged = errors.New("replay: codecs changed within the range")
)

// Fragment is what replay needs to know of a stored fragment.
type Fragment struct {
	Number       uint64
	ServerTime   time.Time
	ProducerTime time.Time
	Duration     time.Duration
	// Codecs of the fragment's tracks, in track order.
	Codecs []string
	// Width and Height of the video track in pixels, 0 when unknown
	// (SurveyRange compares them).
	Width, Height int
	// From, if set, reads this fragment instead of the Source replaying
	// the range: a range can mix fragments stored locally with archived
	// ones fetched from a bucket, each opened by its own Store and Opener.
	From *Source
}

// Store reads sealed blobs; *index.Index satisfies it.
type Store interface {
	Blob(ctx context.Context, number uint64) ([]byte, error)
}

// Opener decrypts sealed blobs; *seal.Keyring satisfies it.
type Opener interface {
	Open(ctx context.Context, stream string, fragmentNumber uint64, sealed []byte) ([]byte, error)
}

// Source bundles what replay reads from.
type Source struct {
	Store  Store
	Opener Opener
}

// Stats tells what a replay wrote.
type Stats struct {
	Fragments int
	Bytes     int64
	First     Fragment
	Last      Fragment
}

// open fetches, decrypts and parses one fragment.
func (s Source) open(ctx context.Context, stream string, f Fragment) ([]byte, fragment.Blob, error) {
	if f.From != nil {
		s = *f.From
	}
	sealed, err := s.Store.Blob(ctx, f.Number)
	if err != nil {
		return nil, fragment.Blob{}, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
	}
	plain, err := s.Opener.Open(ctx, stream, f.Number, sealed)
	if err != nil {
		return nil, fragment.Blob{}, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
	}
	b, err := fragment.DecodeBlob(plain)
	if err != nil {
		return nil, fragment.Blob{}, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
	}
	return plain, b, nil
}

// WriteMKV writes the fragments as one continuous Matroska stream. It
// flushes w after each fragment when w is an http.Flusher. title names the
// segment (the stream name is a good one).
func (s Source) WriteMKV(ctx context.Context, w io.Writer, stream, title string, frags iter.Seq2[Fragment, error]) (Stats, error) {
	return s.WriteMKVWith(ctx, w, stream, MKVOptions{Title: title}, frags)
}

// MKVOptions are the optional parts of a replayed Matroska stream.
type MKVOptions struct {
	// Title names the segment.
	Title string
	// Duration, when the range is known in advance, is written in the
	// segment's Info, so players show the length of a streamed file.
	Duration time.Duration
	// Cues reserves room for a SeekHead at the start and writes Cues (one
	// point per fragment, each starting with a keyframe) after the last
	// cluster; mkv.FinishFile on the saved file then points the SeekHead
	// at them, and players seek.
	Cues bool
}

// WriteMKVWith is WriteMKV with options.
func (s Source) WriteMKVWith(ctx context.Context, w io.Writer, stream string, o MKVOptions, frags iter.Seq2[Fragment, error]) (Stats, error) {
	var st Stats
	var origin time.Time
	var firstTracks []byte
	var firstCodecs []string
	var cues []mkv.CuePoint
	var segData int64 // the offset of the Segment's data in the output
	buf := make([]byte, 0, 1024)
	flusher, _ := w.(http.Flusher)
	for f, err := range frags {
		if err != nil {
			return st, err
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		plain, blob, err := s.open(ctx, stream, f)
		if err != nil {
			return st, err
		}
		if st.Fragments == 0 {
			origin = f.ServerTime
			firstTracks = append([]byte(nil), blob.Tracks...)
			firstCodecs = f.Codecs
			buf = mkv.AppendEBMLHeader(buf[:0])
			buf = mkv.AppendSegmentStart(buf)
			segData = int64(len(buf))
			if o.Cues {
				buf = mkv.AppendSeekHeadVoid(buf)
			}
			buf = mkv.AppendInfo(buf, mkv.Info{Title: o.Title, DateUTC: f.ServerTime, Duration: o.Duration})
			buf = append(buf, firstTracks...)
			if err := write(w, buf, &st); err != nil {
				return st, err
			}
			st.First = f
		} else if !bytes.Equal(blob.Tracks, firstTracks) && !slices.Equal(f.Codecs, firstCodecs) {
			clear(plain)
			return st, fmt.Errorf("%w: fragment %d has %v, the range began with %v", ErrTracksChanged, f.Number, f.Codecs, firstCodecs)
		}
		ms := f.ServerTime.Sub(origin).Milliseconds()
		if ms < 0 {
			ms = 0
		}
		if err := mkv.PatchClusterTimecode(blob.Cluster, uint64(ms)); err != nil {
			return st, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
		}
		if o.Cues {
			// Every fragment starts with a keyframe of its video track.
			cues = append(cues, mkv.CuePoint{TimeMS: uint64(ms), Track: cueTrack(f.Codecs), ClusterPosition: uint64(st.Bytes - segData)})
		}
		err = write(w, blob.Cluster, &st)
		clear(plain)
		if err != nil {
			return st, err
		}
		st.Fragments++
		st.Last = f
		if flusher != nil {
			flusher.Flush()
		}
	}
	if st.Fragments == 0 {
		return st, ErrNoFragments
	}
	if o.Cues {
		if err := write(w, mkv.AppendCues(nil, cues), &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// ErrNoVideo is returned by Keyframe for a fragment without a video
// track.
var ErrNoVideo = errors.New("replay: the fragment has no video track")

// Keyframe returns a Matroska file of one frame, the video keyframe of f
// that starts at or before at (the fragment's first when at is before
// it), for a decoder to make a picture of; the server times of all of
// f's video keyframes, in order; and the index of the one chosen. The
// file holds plaintext: keep it in memory and clear it after use.
func (s Source) Keyframe(ctx context.Context, stream string, f Fragment, at time.Time) (file []byte, keys []time.Time, chosen int, err error) {
	plain, blob, err := s.open(ctx, stream, f)
	if err != nil {
		return nil, nil, 0, err
	}
	defer clear(plain)
	whole, err := mkv.AppendFragment(nil, &mkv.Fragment{Tracks: blob.Tracks, Cluster: blob.Cluster})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
	}
	defer clear(whole)
	r := mkv.NewReader(bytes.NewReader(whole), mkv.ReaderOptions{})
	var video uint64
	var pick []byte
	first := int64(-1)
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
		}
		switch e := ev.(type) {
		case mkv.Tracks:
			for _, t := range e.Tracks {
				if t.Type == mkv.TrackVideo {
					video = t.Number
					break
				}
			}
		case mkv.Block:
			if video == 0 || e.Track != video || !e.Key {
				continue
			}
			if first < 0 {
				first = e.Timecode
			}
			t := f.ServerTime.Add(time.Duration(e.Timecode-first) * time.Millisecond)
			keys = append(keys, t)
			if pick == nil || !t.After(at) {
				clear(pick)
				pick, chosen = e.Data, len(keys)-1
			} else {
				clear(e.Data)
			}
		}
	}
	if video == 0 || pick == nil {
		return nil, nil, 0, fmt.Errorf("%w: fragment %d", ErrNoVideo, f.Number)
	}
	defer clear(pick)
	c := mkv.AppendClusterStart(nil, 0)
	if c, err = mkv.AppendSimpleBlock(c, video, 0, true, pick); err != nil {
		return nil, nil, 0, err
	}
	if err := mkv.FinishCluster(c); err != nil {
		return nil, nil, 0, err
	}
	defer clear(c)
	file, err = mkv.AppendFragment(nil, &mkv.Fragment{Tracks: blob.Tracks, Cluster: c})
	return file, keys, chosen, err
}

// cueTrack returns the number of the video track among codecs (tracks
// are numbered from 1 in that order), or 1 when there is none.
func cueTrack(codecs []string) uint64 {
	for i, c := range codecs {
		if media.Codec(c).Kind() == media.KindVideo {
			return uint64(i + 1)
		}
	}
	return 1
}

// AppendFragmentMKV appends a self-contained Matroska file of one fragment,
// with the KVS fragment number and timestamps as tags (as KVS GetMedia and
// GetMediaForFragmentList return them). Its cluster timecode is the
// producer timestamp in milliseconds, as in KVS. extra tags follow the
// three (KVS GetMedia adds mkv.TagContinuationToken and
// mkv.TagMillisBehindNow).
func (s Source) AppendFragmentMKV(ctx context.Context, dst []byte, stream string, f Fragment, number string, extra ...mkv.SimpleTag) ([]byte, error) {
	plain, blob, err := s.open(ctx, stream, f)
	if err != nil {
		return dst, err
	}
	defer clear(plain)
	if err := mkv.PatchClusterTimecode(blob.Cluster, uint64(max(f.ProducerTime.UnixMilli(), 0))); err != nil {
		return dst, err
	}
	return mkv.AppendFragment(dst, &mkv.Fragment{
		Info:    mkv.Info{DateUTC: f.ServerTime},
		Tracks:  blob.Tracks,
		Cluster: blob.Cluster,
		Tags: append([]mkv.SimpleTag{
			{Name: mkv.TagFragmentNumber, Value: number},
			{Name: mkv.TagServerTimestamp, Value: mkv.FormatTagTime(f.ServerTime)},
			{Name: mkv.TagProducerTimestamp, Value: mkv.FormatTagTime(f.ProducerTime)},
		}, extra...),
	})
}

func write(w io.Writer, p []byte, st *Stats) error {
	n, err := w.Write(p)
	st.Bytes += int64(n)
	if err != nil {
		return fmt.Errorf("replay: write: %w", err)
	}
	return nil
}
