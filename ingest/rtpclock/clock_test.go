package rtpclock

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// base is the capture time of frame 0 on our clock in every test.
var base = time.Date(2026, 12, 2, 18, 0, 0, 123456789, time.UTC)

// sender is a camera whose clock reads ours plus offset (plus drift per
// second of our clock), capturing 90 kHz video at 25 fps from RTP
// timestamp ts0, with frames arriving latency after capture.
type sender struct {
	offset  time.Duration
	drift   float64 // seconds gained per second
	ts0     uint32
	latency time.Duration
}

// at returns frame i's capture time on our clock, its RTP timestamp and
// the time the sender's clock read at capture.
func (s sender) at(i int) (capture time.Time, ts uint32, claimed time.Time) {
	el := time.Duration(i) * 40 * time.Millisecond
	capture = base.Add(el)
	ts = s.ts0 + uint32(i*3600)
	claimed = capture.Add(s.offset).Add(time.Duration(s.drift * float64(el)))
	return
}

// report is the sender report the sender writes at frame i.
func (s sender) report(tr *Track, i int) Event {
	_, ts, claimed := s.at(i)
	return tr.SenderReport(NTPTimestamp(claimed), ts)
}

func TestExactReports(t *testing.T) {
	for _, ts0 := range []uint32{0, 1 << 31, 0xffffffff - 90000} { // the last one wraps after 1 s
		var m Mapper
		tr := m.Track(90000)
		s := sender{ts0: ts0, latency: 30 * time.Millisecond}
		if w, _ := tr.Wall(s.ts0, base); !w.IsZero() {
			t.Fatalf("wall %v before any report", w)
		}
		for i := range 250 {
			if i%125 == 0 {
				if ev := s.report(tr, i); ev != 0 {
					t.Fatalf("report %d: event %b", i, ev)
				}
			}
			capture, ts, _ := s.at(i)
			w, ev := tr.Wall(ts, capture.Add(s.latency))
			if !w.Equal(capture) || ev != 0 {
				t.Fatalf("ts0 %d frame %d: wall %v (event %b), want %v", ts0, i, w, ev, capture)
			}
		}
		if st := m.Stats(); st.Corrected != 0 || st.Jumps != 0 || st.Latency != s.latency || st.Reports != 2 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// A report before the first packet (ffmpeg's first one) maps the frames
// that follow.
func TestReportBeforeFirstPacket(t *testing.T) {
	var m Mapper
	tr := m.Track(90000)
	s := sender{ts0: 1000, offset: -time.Second}
	s.report(tr, 0)
	capture, ts, claimed := s.at(10)
	if w, _ := tr.Wall(ts, capture); !w.Equal(claimed) {
		t.Fatalf("wall %v, want %v", w, claimed)
	}
}

func TestClockAheadIsCorrected(t *testing.T) {
	var m Mapper
	video, audio := m.Track(90000), m.Track(48000)
	s := sender{offset: 5 * time.Second, ts0: 7, latency: 20 * time.Millisecond}
	s.report(video, 0)
	_, _, claimed0 := s.at(0)
	audio.SenderReport(NTPTimestamp(claimed0), 99) // audio RTP 99 is frame 0's instant
	var events int
	for i := range 100 {
		capture, ts, _ := s.at(i)
		arrival := capture.Add(s.latency)
		// network jitter: frame 5 is the fastest.
		if i == 5 {
			arrival = capture.Add(5 * time.Millisecond)
		}
		w, ev := video.Wall(ts, arrival)
		if ev&EventAhead != 0 {
			events++
		}
		if w.After(arrival) {
			t.Fatalf("frame %d: wall %v after arrival %v", i, w, arrival)
		}
		// after frame 5, every frame is captured 5 ms after its true
		// capture: the correction is 5 s minus the least latency.
		want := capture.Add(s.latency)
		if i >= 5 {
			want = capture.Add(5 * time.Millisecond)
		}
		if !w.Equal(want) {
			t.Fatalf("frame %d: wall %v, want %v", i, w, want)
		}
		// audio at the same instant maps to the same time.
		aw, _ := audio.Wall(99+uint32(i*1920), arrival.Add(time.Second))
		if !aw.Equal(w) {
			t.Fatalf("frame %d: audio wall %v, video %v", i, aw, w)
		}
	}
	st := m.Stats()
	if events != 1 || st.Correction != 5*time.Second-5*time.Millisecond || st.MaxAhead != st.Correction || st.Corrected != 2 {
		t.Fatalf("events %d, stats %+v", events, st)
	}
}

func TestClockBehindIsKept(t *testing.T) {
	var m Mapper
	tr := m.Track(90000)
	s := sender{offset: -3 * time.Second, latency: 10 * time.Millisecond}
	for i := range 100 {
		if i%25 == 0 {
			s.report(tr, i)
		}
		capture, ts, claimed := s.at(i)
		if w, ev := tr.Wall(ts, capture.Add(s.latency)); !w.Equal(claimed) || ev != 0 {
			t.Fatalf("frame %d: wall %v (event %b), want %v", i, w, ev, claimed)
		}
	}
	if st := m.Stats(); st.Latency != 3*time.Second+10*time.Millisecond || st.Corrected != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJump(t *testing.T) {
	var m Mapper
	tr := m.Track(90000)
	s := sender{offset: time.Second, latency: 10 * time.Millisecond}
	s.report(tr, 0)
	for i := range 50 {
		capture, ts, _ := s.at(i)
		tr.Wall(ts, capture.Add(s.latency))
	}
	if st := m.Stats(); st.Correction != time.Second-10*time.Millisecond {
		t.Fatalf("correction %v", st.Correction)
	}
	// the camera's clock is stepped back to ours (NTP sync).
	s.offset = 0
	if ev := s.report(tr, 50); ev != EventJump {
		t.Fatalf("event %b, want a jump", ev)
	}
	st := m.Stats()
	if st.Jumps != 1 || st.LastJump != -time.Second || st.Correction != 0 {
		t.Fatalf("stats %+v", st)
	}
	capture, ts, _ := s.at(60)
	if w, _ := tr.Wall(ts, capture.Add(s.latency)); !w.Equal(capture) {
		t.Fatalf("after the jump: wall %v, want %v", w, capture)
	}
}

// A producer clock gaining 1 ms a second on ours: reports keep following
// it, frames never land after their arrival, and it is reported once the
// correction passes the tolerance.
func TestDrift(t *testing.T) {
	var m Mapper
	tr := m.Track(90000)
	s := sender{drift: 0.001, latency: 20 * time.Millisecond}
	var events []int
	for i := range 2500 { // 100 s
		if i%125 == 0 {
			if ev := s.report(tr, i); ev != 0 {
				t.Fatalf("report at frame %d: event %b", i, ev)
			}
		}
		capture, ts, claimed := s.at(i)
		arrival := capture.Add(s.latency)
		w, ev := tr.Wall(ts, arrival)
		if ev != 0 {
			events = append(events, i)
		}
		if w.After(arrival) {
			t.Fatalf("frame %d after arrival", i)
		}
		// the camera's RTP clock runs at our rate and its NTP clock 0.1 %
		// fast, so between two reports (5 s) a frame drifts up to 5 ms
		// from what the camera's clock said; the rest is the correction.
		if d := claimed.Add(-m.Stats().Correction).Sub(w).Abs(); d > 5*time.Millisecond {
			t.Fatalf("frame %d: wall %v, camera said %v, correction %v", i, w, claimed, m.Stats().Correction)
		}
	}
	st := m.Stats()
	// at the last report (95 s) the camera was 95 ms ahead, and frames
	// take 20 ms.
	if st.Correction != 75*time.Millisecond || len(events) != 1 {
		t.Fatalf("events at frames %v, stats %+v", events, st)
	}
}

// More than 2^31 ticks (6.6 h at 90 kHz) after the last report, times
// still move forward.
func TestLongRunWithoutReports(t *testing.T) {
	var m Mapper
	tr := m.Track(90000)
	srNTP := base
	tr.SenderReport(NTPTimestamp(srNTP), 0xfff00000)
	step := uint32(90000 * 60) // a frame a minute
	ts := uint32(0xfff00000)
	for i := 1; i <= 600; i++ { // 10 h
		ts += step
		want := srNTP.Add(time.Duration(i) * time.Minute)
		w, _ := tr.Wall(ts, want.Add(time.Millisecond))
		if !w.Equal(want) {
			t.Fatalf("minute %d: wall %v, want %v", i, w, want)
		}
	}
}

// gortsplib up to v4.16 writes nanoseconds in the NTP fraction; two
// consecutive reports tell.
func TestNanosecondFractions(t *testing.T) {
	nanosNTP := func(t time.Time) uint64 {
		return uint64(t.Unix()+ntpUnixOffset)<<32 | uint64(t.Nanosecond())
	}
	var m Mapper
	tr := m.Track(90000)
	s := sender{latency: 10 * time.Millisecond}
	// a fraction of 0.7 s: read per RFC 5905 it is 0.163 s.
	var evs Event
	for i := range 600 {
		capture, ts, claimed := s.at(i)
		if i%250 == 0 {
			claimed = claimed.Truncate(time.Second).Add(700*time.Millisecond + time.Duration(i)*time.Millisecond)
			// the report's RTP time matches its own instant.
			el := claimed.Sub(capture)
			evs |= tr.SenderReport(nanosNTP(claimed), ts+uint32(int32(math.Round(el.Seconds()*90000))))
		}
		w, _ := tr.Wall(ts, capture.Add(s.latency))
		if i > 250 && w.Sub(capture).Abs() > 6*time.Microsecond { // the report's RTP time is rounded to a tick (11 µs)
			t.Fatalf("frame %d: wall %v, want %v", i, w, capture)
		}
	}
	if evs != EventNanosecondNTP || !m.Stats().NanosecondNTP || m.Stats().Jumps != 0 {
		t.Fatalf("events %b stats %+v", evs, m.Stats())
	}
}

func TestNTPTimestamp(t *testing.T) {
	for _, tm := range []time.Time{
		time.Unix(0, 0), base, time.Unix(2085978495, 999999999), time.Unix(1, 1), time.Unix(1700000000, 500000000),
	} {
		if got := NTPTime(NTPTimestamp(tm)); !got.Equal(tm) {
			t.Errorf("%v round trips to %v", tm, got)
		}
	}
	// RFC 5905: 0x80000000 is half a second.
	if got := NTPTime(uint64(ntpUnixOffset)<<32 | 0x80000000); !got.Equal(time.Unix(0, 5e8)) {
		t.Errorf("half a second reads %v", got)
	}
}

// FuzzMapper feeds a Mapper arbitrary reports and timestamps: it must not
// panic, and no frame may land after its arrival.
func FuzzMapper(f *testing.F) {
	seed := make([]byte, 0, 64)
	seed = binary.BigEndian.AppendUint64(seed, NTPTimestamp(base))
	seed = binary.BigEndian.AppendUint32(seed, 1234)
	seed = binary.BigEndian.AppendUint32(seed, 1234+3600)
	f.Add(uint16(90000&0xffff), seed)
	f.Add(uint16(8000), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, rate uint16, b []byte) {
		var m Mapper
		tr := m.Track(int(rate))
		arrival := base
		for len(b) >= 4 {
			op := b[0]
			if op&1 == 1 && len(b) >= 12 {
				tr.SenderReport(binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:]))
				b = b[12:]
				continue
			}
			arrival = arrival.Add(time.Duration(op) * time.Millisecond)
			w, _ := tr.Wall(binary.BigEndian.Uint32(b), arrival)
			if w.After(arrival) {
				t.Fatalf("wall %v after arrival %v", w, arrival)
			}
			b = b[4:]
		}
	})
}

func FuzzNTPTime(f *testing.F) {
	f.Add(NTPTimestamp(base))
	f.Add(uint64(0))
	f.Add(^uint64(0))
	f.Fuzz(func(t *testing.T, v uint64) {
		tm := NTPTime(v)
		if v>>32 < ntpUnixOffset || v>>32 == 0xffffffff {
			return // before 1970, or rounding to 2036's end
		}
		// a nanosecond is 4.3 fraction units: writing back lands within 3.
		back := NTPTimestamp(tm)
		if d := int64(back - v); d < -3 || d > 3 || !NTPTime(back).Equal(tm) {
			t.Fatalf("%x reads %v, which writes %x", v, tm, back)
		}
	})
}
