package whiptest

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// reporter writes RTCP sender reports of its own instead of pion's: at
// the first packet of a frame at most every 200 ms, that packet's RTP
// timestamp paired with its capture time on a clock that reads ours +
// offset, per RFC 3550 and RFC 5905. A frame's capture time is the first
// packet's send time plus its RTP time since (Send paces samples by their
// durations from its start), so a sender that is late writing a frame
// does not move the mapping. The reports are exactly right for that clock.
type reporter struct {
	interceptor.NoOp
	offset time.Duration
	now    func() time.Time

	mu   sync.Mutex
	rtcp interceptor.RTCPWriter
	last map[uint32]time.Time // last report by SSRC
	ts   map[uint32]uint32    // last RTP timestamp seen by SSRC
	seen map[uint32]bool      // a packet of the SSRC was seen
	base map[uint32]base      // the first packet by SSRC
	// first is when the first packet of any stream left: the capture time
	// of its frame.
	first time.Time
}

// FirstSent returns the capture time (our clock) of the first frame a
// publisher with OwnReports sent, zero before it or without OwnReports:
// frame i of a track paced by Send was captured i durations later.
func (p *Publisher) FirstSent() time.Time {
	if p.reporter == nil {
		return time.Time{}
	}
	p.reporter.mu.Lock()
	defer p.reporter.mu.Unlock()
	return p.reporter.first
}

type base struct {
	at time.Time
	ts uint32
}

func (r *reporter) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	r.mu.Lock()
	r.rtcp = w
	r.mu.Unlock()
	return w
}

func (r *reporter) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	rate := int64(info.ClockRate)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		now := r.now()
		r.mu.Lock()
		first := !r.seen[h.SSRC] || r.ts[h.SSRC] != h.Timestamp
		if !r.seen[h.SSRC] {
			r.base[h.SSRC] = base{at: now, ts: h.Timestamp}
			if r.first.IsZero() {
				r.first = now
			}
		}
		r.seen[h.SSRC], r.ts[h.SSRC] = true, h.Timestamp
		var sr *rtcp.SenderReport
		if first && rate > 0 && now.Sub(r.last[h.SSRC]) >= 200*time.Millisecond {
			r.last[h.SSRC] = now
			b := r.base[h.SSRC]
			captured := b.at.Add(time.Duration(int64(int32(h.Timestamp-b.ts)) * int64(time.Second) / rate))
			sr = &rtcp.SenderReport{SSRC: h.SSRC, NTPTime: NTP(captured.Add(r.offset)), RTPTime: h.Timestamp}
		}
		rw := r.rtcp
		r.mu.Unlock()
		// The report leaves first: the first frame maps too.
		if sr != nil && rw != nil {
			_, _ = rw.Write([]rtcp.Packet{sr}, interceptor.Attributes{})
		}
		return w.Write(h, payload, a)
	})
}

type reporterFactory struct{ r *reporter }

func (f reporterFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.r, nil }

// NTP returns t as a 64-bit NTP timestamp (RFC 5905 §6): seconds since
// 1900 and a binary fraction.
func NTP(t time.Time) uint64 {
	const unixToNTP = 2208988800
	secs := uint64(t.Unix() + unixToNTP)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}
