package mkv

import (
	"bytes"
	"io"
	"testing"
)

// benchFrames is a 2-second, 4 Mbit/s fragment: 50 video frames at 25 fps
// (a 100 kB keyframe, the rest sharing ~880 kB) and 100 audio frames of
// 256 bytes.
func benchFrames() []testBlock {
	var blocks []testBlock
	video := 1_000_000 - 100*256
	key := 100_000
	inter := (video - key) / 49
	for i := range 50 {
		size := inter
		if i == 0 {
			size = key
		}
		blocks = append(blocks, testBlock{1, int64(i * 40), i == 0, bytes.Repeat([]byte{byte(i)}, size)})
		for j := range 2 {
			blocks = append(blocks, testBlock{2, int64(i*40 + j*20), true, bytes.Repeat([]byte{0xA}, 256)})
		}
	}
	return blocks
}

// BenchmarkWriteCluster writes one 2 s cluster into a reused buffer.
func BenchmarkWriteCluster(b *testing.B) {
	blocks := benchFrames()
	total := 0
	for _, bl := range blocks {
		total += len(bl.data)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	buf := make([]byte, 0, 2<<20)
	for b.Loop() {
		c := AppendClusterStart(buf[:0], 0)
		for _, bl := range blocks {
			var err error
			if c, err = AppendSimpleBlock(c, bl.track, bl.rel, bl.key, bl.data); err != nil {
				b.Fatal(err)
			}
		}
		if err := FinishCluster(c); err != nil {
			b.Fatal(err)
		}
		if err := PatchClusterTimecode(c, 1234); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadCluster reads the same cluster back with the Reader.
func BenchmarkReadCluster(b *testing.B) {
	c := buildCluster(b, 0, benchFrames())
	tracksEl, err := AppendTracks(nil, []Track{
		{Number: 1, Type: TrackVideo, CodecID: CodecH264},
		{Number: 2, Type: TrackAudio, CodecID: CodecAAC},
	})
	if err != nil {
		b.Fatal(err)
	}
	file, err := AppendFragment(nil, &Fragment{Tracks: tracksEl, Cluster: c})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(file), ReaderOptions{})
		for {
			if _, err := r.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
