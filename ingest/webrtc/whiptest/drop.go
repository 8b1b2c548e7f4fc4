package whiptest

import (
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// dropper is an interceptor between pion's NACK responder and the
// network: it loses the first transmission of the RTP packets drop
// chooses, which the responder has already kept, so a NACK brings them
// back (the retransmission passes).
type dropper struct {
	interceptor.NoOp
	drop    func(*rtp.Header) bool
	dropped *atomic.Int64

	mu   sync.Mutex
	lost map[uint64]bool // ssrc<<16 | seq of the packets lost once
}

func (d *dropper) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		k := uint64(h.SSRC)<<16 | uint64(h.SequenceNumber)
		d.mu.Lock()
		resend := d.lost[k]
		lose := !resend && d.drop(h)
		if resend {
			delete(d.lost, k)
		} else if lose {
			d.lost[k] = true
		}
		d.mu.Unlock()
		if lose {
			d.dropped.Add(1)
			return h.MarshalSize() + len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}

type dropperFactory struct{ d *dropper }

func (f dropperFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.d, nil }
