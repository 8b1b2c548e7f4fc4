package firehose

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zip"
)

// compress returns the object body of records, concatenated without a
// delimiter, in format; name names the one entry of a ZIP archive.
func compress(format, name string, records [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch format {
	case Uncompressed, "":
		for _, r := range records {
			buf.Write(r)
		}
		return buf.Bytes(), nil
	case GZIP:
		w := gzip.NewWriter(&buf)
		for _, r := range records {
			if _, err = w.Write(r); err != nil {
				break
			}
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	case Snappy:
		// The Snappy framing format, as Firehose writes it.
		w := s2.NewWriter(&buf, s2.WriterSnappyCompat(), s2.WriterConcurrency(1))
		for _, r := range records {
			if _, err = w.Write(r); err != nil {
				break
			}
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	case ZIP:
		zw := zip.NewWriter(&buf)
		f, cerr := zw.Create(name)
		if cerr != nil {
			return nil, fmt.Errorf("firehose: zip: %w", cerr)
		}
		for _, r := range records {
			if _, err = f.Write(r); err != nil {
				break
			}
		}
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	default:
		return nil, fmt.Errorf("firehose: compression %q not supported", format)
	}
	if err != nil {
		return nil, fmt.Errorf("firehose: compress %s: %w", format, err)
	}
	return buf.Bytes(), nil
}
