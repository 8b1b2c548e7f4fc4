package firehose

import (
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
