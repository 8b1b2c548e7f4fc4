package camsim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/ingest/media"
)

// mpegtsClockRate is the MPEG-TS timestamp clock (ISO/IEC 13818-1 §2.4.3.7).
const mpegtsClockRate = 90000

// Payload types of the announced formats (dynamic range, RFC 3551 §6).
const (
	payloadTypeVideo = 96
	payloadTypeAudio = 97
)

// Clip is a media clip held in memory, ready to be published by any number
// of cameras. It is immutable once loaded and safe for concurrent use.
//
// A clip has at most one video track (H.264 or H.265) and one audio track
// (AAC or Opus); further tracks of the file are ignored. Its timeline starts
// at the first video keyframe: frames before it are dropped.
type Clip struct {
	// Tracks of the clip, video first. Frame.Track indexes this slice.
	Tracks []*media.Track
	// Frames in decode order, interleaved by DTS. PTS and DTS are relative to
	// the clip origin (the smallest DTS, so the first DTS is 0). Video data is
	// AVCC (4-byte lengths), with parameter sets in-band at keyframes.
	Frames []*media.Frame
	// Period is the loop period: loop L presents frame k at Frames[k].PTS +
	// L×Period. For a clip with video it is the number of video frames times
	// the frame duration, so the video timeline is seamless; audio frames that
	// would overlap the next loop are dropped at load time.
	Period time.Duration
	// KeyframeInterval is the time between the first two video keyframes
	// (the GOP duration), or Period when there is only one, or 0 without video.
	KeyframeInterval time.Duration
	// FrameRate is the video frame rate in frames per second, 0 without video.
	FrameRate float64

	tracks   []clipTrack
	frames   []clipFrame
	period90 int64
}

// clipTrack is what a camera needs to announce and packetize a track.
type clipTrack struct {
	codec     media.Codec
	clockRate int
	channels  int
	aacConfig *mpeg4audio.AudioSpecificConfig
	vps       []byte
	sps       []byte
	pps       []byte
}

// clipFrame is one frame, packetized once at load time.
type clipFrame struct {
	track    int
	key      bool
	pts90    int64 // relative to the clip origin, 90 kHz
	dts90    int64
	dur90    int64 // presentation duration, 90 kHz
	payloads [][]byte
	markers  []bool
	size     int // sum of payload sizes
}

// rawFrame is a frame as the MPEG-TS reader returns it.
type rawFrame struct {
	track    int
	pts, dts int64 // unwrapped 90 kHz
	au       [][]byte
	key      bool
	dur      int64
}

// ReadClip loads an MPEG-TS clip from a file. See LoadClip.
func ReadClip(path string) (*Clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClip, err)
	}
	defer f.Close()
	c, err := LoadClip(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// LoadClip reads a whole MPEG-TS stream (ISO/IEC 13818-1) with H.264 or H.265
// video and AAC (ADTS) or Opus audio into memory, and packetizes it for RTP.
// The input is untrusted: malformed streams return an error wrapping ErrClip.
func LoadClip(r io.Reader) (*Clip, error) {
	raw, err := readTS(r)
	if err != nil {
		return nil, err
	}
	return buildClip(raw)
}

// tsResult is what readTS found: the supported tracks and their frames in
// file order.
type tsResult struct {
	tracks []clipTrack
	frames []rawFrame
}

func readTS(r io.Reader) (res *tsResult, err error) {
	// The demuxer is third-party code fed untrusted bytes: a panic in it must
	// not take the caller down.
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("%w: mpeg-ts demuxer: %v", ErrClip, p)
		}
	}()

	rd := &mpegts.Reader{R: bufio.NewReaderSize(r, 64*1024)}
	if err := rd.Initialize(); err != nil {
		return nil, fmt.Errorf("%w: mpeg-ts: %w", ErrClip, err)
	}
	rd.OnDecodeError(func(error) {})

	res = &tsResult{}
	var td mpegts.TimeDecoder
	td.Initialize()
	haveVideo, haveAudio := false, false
	add := func(t int, pts, dts, dur int64, au [][]byte) {
		cp := make([][]byte, len(au))
		for i, n := range au {
			cp[i] = bytes.Clone(n)
		}
		d := td.Decode(dts)
		p := td.Decode(pts)
		res.frames = append(res.frames, rawFrame{track: t, pts: p, dts: d, dur: dur, au: cp})
	}

	for _, tr := range rd.Tracks() {
		switch c := tr.Codec.(type) {
		case *mpegts.CodecH264, *mpegts.CodecH265:
			if haveVideo {
				continue
			}
			haveVideo = true
			idx := len(res.tracks)
			if _, ok := c.(*mpegts.CodecH264); ok {
				res.tracks = append(res.tracks, clipTrack{codec: media.CodecH264, clockRate: mpegtsClockRate})
				rd.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
					add(idx, pts, dts, 0, au)
					return nil
				})
			} else {
				res.tracks = append(res.tracks, clipTrack{codec: media.CodecH265, clockRate: mpegtsClockRate})
				rd.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
					add(idx, pts, dts, 0, au)
					return nil
				})
			}
		case *mpegts.CodecMPEG4Audio:
			if haveAudio {
				continue
			}
			if c.SampleRate <= 0 || c.ChannelCount <= 0 {
				continue
			}
			haveAudio = true
			idx := len(res.tracks)
			cfg := c.Config
			res.tracks = append(res.tracks, clipTrack{
				codec: media.CodecAAC, clockRate: cfg.SampleRate,
				channels: cfg.ChannelCount, aacConfig: &cfg,
			})
			rate := int64(cfg.SampleRate)
			rd.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				dur := mpeg4audio.SamplesPerAccessUnit * mpegtsClockRate / rate
				for i, au := range aus {
					p := pts + int64(i)*dur
					add(idx, p, p, dur, [][]byte{au})
				}
				return nil
			})
		case *mpegts.CodecOpus:
			if haveAudio {
				continue
			}
			haveAudio = true
			idx := len(res.tracks)
			ch := c.ChannelCount
			if ch <= 0 {
				ch = 2
			}
			res.tracks = append(res.tracks, clipTrack{codec: media.CodecOpus, clockRate: 48000, channels: ch})
			rd.OnDataOpus(tr, func(pts int64, packets [][]byte) error {
				for _, pkt := range packets {
					if len(pkt) == 0 {
						continue
					}
					dur := opus.PacketDuration2(pkt) * mpegtsClockRate / 48000
					add(idx, pts, pts, dur, [][]byte{pkt})
					pts += dur
				}
				return nil
			})
		}
	}
	if len(res.tracks) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrClip, ErrNoSupportedTrack)
	}
	for {
		err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: mpeg-ts: %w", ErrClip, err)
		}
	}
	return res, nil
}

// buildClip turns what the demuxer found into a Clip: video track first,
// timeline starting at the first video keyframe, loop period, trimmed audio,
// RTP payloads.
func buildClip(raw *tsResult) (*Clip, error) {
	// Video first: Frame.Track 0 is the video track when there is one.
	order := make([]int, len(raw.tracks)) // order[new] = old
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return int(raw.tracks[a].codec.Kind()) - int(raw.tracks[b].codec.Kind())
	})
	remap := make([]int, len(order)) // remap[old] = new
	tracks := make([]clipTrack, len(order))
	for n, o := range order {
		remap[o] = n
		tracks[n] = raw.tracks[o]
	}
	frames := raw.frames
	for i := range frames {
		frames[i].track = remap[frames[i].track]
	}

	video := -1
	if tracks[0].codec.Kind() == media.KindVideo {
		video = 0
	}

	var videoDur int64
	if video >= 0 {
		// Find the first keyframe, drop what comes before it, learn the
		// parameter sets it carries in-band.
		first := -1
		for i := range frames {
			f := &frames[i]
			if f.track != video {
				continue
			}
			f.key = isRandomAccess(tracks[video].codec, f.au)
			if f.key && first < 0 {
				first = i
			}
		}
		if first < 0 {
			return nil, fmt.Errorf("%w: video track has no keyframe", ErrClip)
		}
		if err := tracks[video].learnParameterSets(frames[first].au); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrClip, err)
		}
		start := frames[first].dts
		kept := frames[:0]
		for i, f := range frames {
			if f.track == video && i < first {
				continue
			}
			if f.track != video && f.pts < start {
				continue
			}
			kept = append(kept, f)
		}
		frames = kept
		videoDur = minFrameDuration(frames, video)
		for i := range frames {
			if frames[i].track == video {
				frames[i].dur = videoDur
			}
		}
	}
	for i := range frames {
		if frames[i].track != video {
			frames[i].key = true
		}
	}

	// The loop period: the video span, else the audio span.
	var period int64
	span := func(track int) (lo, hi int64, ok bool) {
		for _, f := range frames {
			if f.track != track {
				continue
			}
			if !ok || f.pts < lo {
				lo = f.pts
			}
			if !ok || f.pts+f.dur > hi {
				hi = f.pts + f.dur
			}
			ok = true
		}
		return lo, hi, ok
	}
	if video >= 0 {
		lo, hi, _ := span(video)
		period = hi - lo
	} else {
		lo, hi, ok := span(0)
		if !ok {
			return nil, fmt.Errorf("%w: audio track has no frames", ErrClip)
		}
		period = hi - lo
	}
	if period <= 0 {
		return nil, fmt.Errorf("%w: clip has no duration", ErrClip)
	}
	// Audio must not overlap itself in the next loop: drop the frames that
	// end after audio start + period (a gap of less than one frame remains).
	for t := range tracks {
		if t == video {
			continue
		}
		lo, _, ok := span(t)
		if !ok {
			continue
		}
		kept := frames[:0]
		for _, f := range frames {
			if f.track == t && f.pts+f.dur > lo+period {
				continue
			}
			kept = append(kept, f)
		}
		frames = kept
	}
	// Drop tracks left without frames (only audio can be).
	counts := make([]int, len(tracks))
	for _, f := range frames {
		counts[f.track]++
	}
	if video < 0 && counts[0] == 0 {
		return nil, fmt.Errorf("%w: no frames", ErrClip)
	}
	for t := len(tracks) - 1; t >= 0; t-- {
		if counts[t] > 0 {
			continue
		}
		tracks = slices.Delete(tracks, t, t+1)
		for i := range frames {
			if frames[i].track > t {
				frames[i].track--
			}
		}
	}

	// Origin: the smallest DTS. Decode order, interleaved by DTS.
	origin := frames[0].dts
	for _, f := range frames {
		origin = min(origin, f.dts)
	}
	slices.SortStableFunc(frames, func(a, b rawFrame) int {
		switch {
		case a.dts < b.dts:
			return -1
		case a.dts > b.dts:
			return 1
		}
		return 0
	})

	c := &Clip{
		Period:   ticksToDuration(period),
		tracks:   tracks,
		period90: period,
		frames:   make([]clipFrame, 0, len(frames)),
		Frames:   make([]*media.Frame, 0, len(frames)),
	}
	encs := make([]encoder, len(tracks))
	for t := range tracks {
		enc, err := newEncoder(tracks[t].format())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrClip, err)
		}
		encs[t] = enc
		c.Tracks = append(c.Tracks, tracks[t].mediaTrack())
	}
	var keys []int64
	for _, f := range frames {
		pkts, err := encs[f.track](f.au)
		if err != nil {
			return nil, fmt.Errorf("%w: packetize %s frame: %w", ErrClip, tracks[f.track].codec, err)
		}
		cf := clipFrame{
			track: f.track, key: f.key,
			pts90: f.pts - origin, dts90: f.dts - origin, dur90: f.dur,
		}
		for _, p := range pkts {
			cf.payloads = append(cf.payloads, p.Payload)
			cf.markers = append(cf.markers, p.Marker)
			cf.size += len(p.Payload)
		}
		c.frames = append(c.frames, cf)
		mf := &media.Frame{
			Track: f.track, Key: f.key,
			PTS: ticksToDuration(cf.pts90), DTS: ticksToDuration(cf.dts90),
		}
		if f.track == video {
			mf.Data = toAVCC(f.au)
			if f.key {
				keys = append(keys, f.dts)
			}
		} else {
			mf.Data = f.au[0]
		}
		c.Frames = append(c.Frames, mf)
	}
	if video >= 0 {
		c.FrameRate = float64(mpegtsClockRate) / float64(videoDur)
		c.KeyframeInterval = c.Period
		if len(keys) > 1 {
			c.KeyframeInterval = ticksToDuration(keys[1] - keys[0])
		}
	}
	return c, nil
}

// minFrameDuration is the smallest positive step between the sorted PTS of
// a track, 3600 (25 fps) for a single frame.
func minFrameDuration(frames []rawFrame, track int) int64 {
	var pts []int64
	for _, f := range frames {
		if f.track == track {
			pts = append(pts, f.pts)
		}
	}
	slices.Sort(pts)
	d := int64(0)
	for i := 1; i < len(pts); i++ {
		if s := pts[i] - pts[i-1]; s > 0 && (d == 0 || s < d) {
			d = s
		}
	}
	if d == 0 {
		d = mpegtsClockRate / 25
	}
	return d
}

func isRandomAccess(c media.Codec, au [][]byte) bool {
	if c == media.CodecH265 {
		return h265.IsRandomAccess(au)
	}
	return h264.IsRandomAccess(au)
}

// learnParameterSets takes the parameter sets from a keyframe's NAL units
// (H.264: ITU-T H.264 §7.4.1.2 types 7/8; H.265: ITU-T H.265 §7.4.2.2 types
// 32/33/34).
func (t *clipTrack) learnParameterSets(au [][]byte) error {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if t.codec == media.CodecH264 {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				t.sps = bytes.Clone(n)
			case h264.NALUTypePPS:
				t.pps = bytes.Clone(n)
			}
			continue
		}
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			t.vps = bytes.Clone(n)
		case h265.NALUType_SPS_NUT:
			t.sps = bytes.Clone(n)
		case h265.NALUType_PPS_NUT:
			t.pps = bytes.Clone(n)
		}
	}
	if t.sps == nil || t.pps == nil || (t.codec == media.CodecH265 && t.vps == nil) {
		return ErrNoParameterSets
	}
	return nil
}

// mediaTrack describes the track in kinedge's frame model.
func (t *clipTrack) mediaTrack() *media.Track {
	mt := &media.Track{Codec: t.codec, ClockRate: t.clockRate}
	switch t.codec {
	case media.CodecH264:
		mt.SPS, mt.PPS = bytes.Clone(t.sps), bytes.Clone(t.pps)
		var sps h264.SPS
		if sps.Unmarshal(t.sps) == nil {
			mt.Width, mt.Height = sps.Width(), sps.Height()
		}
	case media.CodecH265:
		mt.VPS, mt.SPS, mt.PPS = bytes.Clone(t.vps), bytes.Clone(t.sps), bytes.Clone(t.pps)
		var sps h265.SPS
		if sps.Unmarshal(t.sps) == nil {
			mt.Width, mt.Height = sps.Width(), sps.Height()
		}
	case media.CodecAAC:
		mt.SampleRate, mt.Channels = t.aacConfig.SampleRate, t.aacConfig.ChannelCount
		if b, err := t.aacConfig.Marshal(); err == nil {
			mt.Config = b
		}
	case media.CodecOpus:
		mt.SampleRate, mt.Channels = 48000, t.channels
	}
	return mt
}

// format returns a fresh gortsplib format for the track (RFC 6184, RFC
// 7798, RFC 3640 AAC-hbr, RFC 7587). Fresh because a Client keeps pointers
// to what it announced.
func (t *clipTrack) format() format.Format {
	switch t.codec {
	case media.CodecH264:
		return &format.H264{PayloadTyp: payloadTypeVideo, PacketizationMode: 1, SPS: t.sps, PPS: t.pps}
	case media.CodecH265:
		return &format.H265{PayloadTyp: payloadTypeVideo, VPS: t.vps, SPS: t.sps, PPS: t.pps}
	case media.CodecAAC:
		cfg := *t.aacConfig
		return &format.MPEG4Audio{
			PayloadTyp: payloadTypeAudio, Config: &cfg,
			SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
		}
	default: // media.CodecOpus
		return &format.Opus{PayloadTyp: payloadTypeAudio, ChannelCount: t.channels}
	}
}

// description returns a fresh session description announcing the clip's
// tracks, one media per track, and the medias in track order.
func (c *Clip) description() *description.Session {
	d := &description.Session{}
	for i := range c.tracks {
		typ := description.MediaTypeAudio
		if c.tracks[i].codec.Kind() == media.KindVideo {
			typ = description.MediaTypeVideo
		}
		d.Medias = append(d.Medias, &description.Media{Type: typ, Formats: []format.Format{c.tracks[i].format()}})
	}
	return d
}

// encoder packetizes one access unit into RTP packets (payloads and markers
// are kept; header fields are set per camera when sending).
type encoder func(au [][]byte) ([]*rtp.Packet, error)

func newEncoder(f format.Format) (encoder, error) {
	switch f := f.(type) {
	case *format.H264:
		e, err := f.CreateEncoder()
		if err != nil {
			return nil, err
		}
		return e.Encode, nil
	case *format.H265:
		e, err := f.CreateEncoder()
		if err != nil {
			return nil, err
		}
		return e.Encode, nil
	case *format.MPEG4Audio:
		e, err := f.CreateEncoder()
		if err != nil {
			return nil, err
		}
		return e.Encode, nil
	case *format.Opus:
		e, err := f.CreateEncoder()
		if err != nil {
			return nil, err
		}
		return func(au [][]byte) ([]*rtp.Packet, error) {
			p, err := e.Encode(au[0])
			if err != nil {
				return nil, err
			}
			return []*rtp.Packet{p}, nil
		}, nil
	}
	return nil, fmt.Errorf("%w: unsupported format %T", ErrClip, f)
}

// toAVCC joins NAL units with 4-byte big-endian lengths (ISO/IEC 14496-15).
func toAVCC(au [][]byte) []byte {
	n := 0
	for _, u := range au {
		n += 4 + len(u)
	}
	out := make([]byte, 0, n)
	for _, u := range au {
		out = binary.BigEndian.AppendUint32(out, uint32(len(u)))
		out = append(out, u...)
	}
	return out
}

// ticksToDuration converts 90 kHz ticks to a time.Duration without
// overflowing for any clip length.
func ticksToDuration(t int64) time.Duration {
	return time.Duration(t/mpegtsClockRate)*time.Second +
		time.Duration(t%mpegtsClockRate)*time.Second/mpegtsClockRate
}

// rescale converts v from clock rate from to clock rate to, rounding down,
// without overflow for any realistic v.
func rescale(v, from, to int64) int64 {
	return v/from*to + v%from*to/from
}
