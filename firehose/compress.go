package firehose

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zip"
)

// encoder returns a writer that compresses what is written to it into w
// in format (records concatenated without a delimiter); Close finishes
// the body. name names the one entry of a ZIP archive.
func encoder(format, name string, w io.Writer) (io.WriteCloser, error) {
	switch format {
	case Uncompressed, "":
		return nopCloser{w}, nil
	case GZIP:
		return gzip.NewWriter(w), nil
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
