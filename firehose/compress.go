package firehose

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zip"
)

// encoder returns a writer that compresses what is written to it into w
// in format (records concatenated without a delimiter); Close finishes
// the body. name names the one entry of a ZIP archive. GZIP bodies are
// compressed on every core (parallelGzip).
func encoder(format, name string, w io.Writer) (io.WriteCloser, error) {
	return encoderOn(format, name, w, runtime.GOMAXPROCS(0))
}

// encoderOn is encoder compressing GZIP on up to workers goroutines (1:
// klauspost's gzip.Writer, one stream on the caller's goroutine).
func encoderOn(format, name string, w io.Writer, workers int) (io.WriteCloser, error) {
	switch format {
	case Uncompressed, "":
		return nopCloser{w}, nil
	case GZIP:
		if workers > 1 {
			return &parallelGzip{w: w, workers: workers}, nil
		}
		zw, err := gzip.NewWriterLevel(w, gzipLevel)
		if err != nil {
			return nil, fmt.Errorf("firehose: gzip: %w", err)
		}
		return zw, nil
	case Snappy:
		// The Snappy framing format, as Firehose writes it.
		return s2.NewWriter(w, s2.WriterSnappyCompat(), s2.WriterConcurrency(1)), nil
	case HadoopSnappy:
		return &hadoopSnappy{w: w, buf: make([]byte, 0, hadoopBlock)}, nil
	case ZIP:
		zw := zip.NewWriter(w)
		f, err := zw.Create(name)
		if err != nil {
			return nil, fmt.Errorf("firehose: zip: %w", err)
		}
		return zipEntry{Writer: f, zw: zw}, nil
	}
	return nil, fmt.Errorf("firehose: compression %q not supported", format)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

type zipEntry struct {
	io.Writer
	zw *zip.Writer
}

func (z zipEntry) Close() error { return z.zw.Close() }

// hadoopBlock is the block size of Hadoop's SnappyCodec
// (io.compression.codec.snappy.buffersize, 256 KiB).
const hadoopBlock = 256 << 10

// hadoopSnappy writes Hadoop's block format of the Snappy codec
// (BlockCompressorStream), what Firehose's HADOOP_SNAPPY is: for each
// block of at most hadoopBlock input bytes, its length (4 bytes,
// big-endian), then one chunk: the compressed length (4 bytes) and the
// raw Snappy block.
type hadoopSnappy struct {
	w   io.Writer
	buf []byte
	out []byte
	err error
}

func (h *hadoopSnappy) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && h.err == nil {
		k := min(len(p), hadoopBlock-len(h.buf))
		h.buf = append(h.buf, p[:k]...)
		p = p[k:]
		if len(h.buf) == hadoopBlock {
			h.flush()
		}
	}
	if h.err != nil {
		return 0, h.err
	}
	return n, nil
}

func (h *hadoopSnappy) flush() {
	if len(h.buf) == 0 || h.err != nil {
		return
	}
	c := s2.EncodeSnappy(nil, h.buf)
	h.out = binary.BigEndian.AppendUint32(h.out[:0], uint32(len(h.buf)))
	h.out = binary.BigEndian.AppendUint32(h.out, uint32(len(c)))
	h.out = append(h.out, c...)
	_, h.err = h.w.Write(h.out)
	h.buf = h.buf[:0]
}

func (h *hadoopSnappy) Close() error {
	h.flush()
	return h.err
}

// gzipLevel is the GZIP level: klauspost's default, level 5 of its fast
// encoders, as before bodies were compressed in parallel. Measured on
// 1 MiB (BenchmarkDelivery's machine, loaded): on telemetry-like JSON
// lines level 5 makes objects 10% smaller than level 2 (0.118 of the
// input against 0.131) at 214 MB/s against 309; on the benchmark's
// records, whose payload is random hex, level 5 is its worst (25 MB/s,
// 0.514) and level 2 both faster and smaller (142 MB/s, 0.480). The edge
// appliance's uplink is scarcer than its CPU, and real records repeat
// more than random hex: the default stays.
const gzipLevel = gzip.DefaultCompression

// gzipChunk is how much input one segment of a parallelGzip body holds.
const gzipChunk = 256 << 10

// parallelGzip writes one GZIP member (RFC 1952) whose deflate stream is
// made of segments compressed concurrently, up to workers at once: each
// from gzipChunk bytes of input (the last from what is left) by a
// compressor of its own, so no segment refers to the input before it.
// Every segment but the last ends with a sync flush (an empty stored
// block: byte-aligned, not final) and the last with the final block, so
// their concatenation is one valid deflate stream; the CRC-32 and size of
// the trailer are the whole input's. That is what pigz writes; any gzip
// reader reads it as one member. The cost is the references lost at the
// segment boundaries (under 0.5% larger at 256 KiB on the benchmark's
// records). It holds at most workers+1 chunks of input and workers
// segments of output.
type parallelGzip struct {
	w       io.Writer
	workers int
	buf     []byte       // input of the next segment
	queue   []*gzSegment // started, not yet written, in order
	crc     uint32
	size    uint32 // ISIZE: the input's length modulo 2^32
	header  bool
	err     error
}

type gzSegment struct {
	in   []byte
	out  bytes.Buffer
	done chan struct{}
	err  error
}

var (
	flatePool sync.Pool // *flate.Writer at gzipLevel
	chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, gzipChunk); return &b }}
)

func (g *parallelGzip) Write(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n := len(p)
	g.crc = crc32.Update(g.crc, crc32.IEEETable, p)
	g.size += uint32(len(p))
	for len(p) > 0 {
		if g.buf == nil {
			g.buf = (*chunkPool.Get().(*[]byte))[:0]
		}
		k := min(len(p), gzipChunk-len(g.buf))
		g.buf = append(g.buf, p[:k]...)
		p = p[k:]
		if len(g.buf) == gzipChunk {
			g.start(false)
			if g.err != nil {
				return 0, g.err
			}
		}
	}
	return n, nil
}

// start compresses g.buf as the next segment, on a goroutine, once fewer
// than workers are in flight.
func (g *parallelGzip) start(final bool) {
	for len(g.queue) >= g.workers {
		g.writeOldest()
	}
	if g.err != nil {
		return
	}
	seg := &gzSegment{in: g.buf, done: make(chan struct{})}
	g.buf = nil
	g.queue = append(g.queue, seg)
	go func() {
		defer close(seg.done)
		seg.out.Grow(len(seg.in)/2 + 64)
		fw, _ := flatePool.Get().(*flate.Writer)
		if fw == nil {
			var err error
			if fw, err = flate.NewWriter(&seg.out, gzipLevel); err != nil {
				seg.err = err
				return
			}
		} else {
			fw.Reset(&seg.out)
		}
		_, seg.err = fw.Write(seg.in)
		if seg.err == nil && final {
			seg.err = fw.Close()
		} else if seg.err == nil {
			seg.err = fw.Flush()
		}
		fw.Reset(nil)
		flatePool.Put(fw)
		in := seg.in[:0]
		seg.in = nil
		chunkPool.Put(&in)
	}()
}

// writeOldest waits for the oldest segment and writes it (after the
// header, before the first), unless an error came first.
func (g *parallelGzip) writeOldest() {
	seg := g.queue[0]
	g.queue = g.queue[1:]
	<-seg.done
	if g.err != nil {
		return
	}
	if g.err = seg.err; g.err != nil {
		return
	}
	if !g.header {
		g.header = true
		// ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown), as
		// klauspost's gzip.Writer writes it.
		if _, g.err = g.w.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}); g.err != nil {
			return
		}
	}
	_, g.err = g.w.Write(seg.out.Bytes())
}

// Close compresses what is left as the last segment, writes every
// segment in order and the trailer. It waits for every goroutine it
// started, also after an error.
func (g *parallelGzip) Close() error {
	if g.err == nil {
		if g.buf == nil {
			g.buf = (*chunkPool.Get().(*[]byte))[:0]
		}
		g.start(true)
	}
	for len(g.queue) > 0 {
		g.writeOldest()
	}
	if g.err != nil {
		return fmt.Errorf("firehose: gzip: %w", g.err)
	}
	var t [8]byte
	binary.LittleEndian.PutUint32(t[:4], g.crc)
	binary.LittleEndian.PutUint32(t[4:], g.size)
	_, err := g.w.Write(t[:])
	g.err = errors.New("firehose: gzip: writer closed")
	if err != nil {
		return fmt.Errorf("firehose: gzip: %w", err)
	}
	return nil
}
