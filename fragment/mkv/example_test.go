package mkv_test

import (
	"bytes"
	"fmt"
	"io"
	"testing/iotest"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// A fragment is stored as a cluster at timecode 0, then patched to its
// time and wrapped into a file on replay; the Reader reads it back, here
// one byte at a time as from a slow network peer.
func Example() {
	tracks, err := mkv.AppendTracks(nil, []mkv.Track{{
		Number: 1, Type: mkv.TrackAudio, CodecID: mkv.CodecOpus,
		CodecPrivate: mkv.OpusHead(2, 48000), SampleRate: 48000, Channels: 2,
		SeekPreRoll: mkv.OpusSeekPreRoll,
	}})
	if err != nil {
		panic(err)
	}
	cluster := mkv.AppendClusterStart(nil, 0)
	for i := range 3 {
		cluster, err = mkv.AppendSimpleBlock(cluster, 1, int64(20*i), true, []byte{0xFC, byte(i)})
		if err != nil {
			panic(err)
		}
	}
	if err := mkv.FinishCluster(cluster); err != nil {
		panic(err)
	}
	if err := mkv.PatchClusterTimecode(cluster, 60_000); err != nil {
		panic(err)
	}
	file, err := mkv.AppendFragment(nil, &mkv.Fragment{Tracks: tracks, Cluster: cluster,
		Tags: []mkv.SimpleTag{{Name: mkv.TagFragmentNumber, Value: "42"}}})
	if err != nil {
		panic(err)
	}

	r := mkv.NewReader(iotest.OneByteReader(bytes.NewReader(file)), mkv.ReaderOptions{})
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		switch ev := ev.(type) {
		case mkv.Tracks:
			fmt.Println("track", ev.Tracks[0].Number, ev.Tracks[0].CodecID)
		case mkv.ClusterStart:
			fmt.Println("cluster at", ev.Timecode, "ms")
		case mkv.Block:
			fmt.Println("frame", ev.Timecode, ev.Data)
		case mkv.Tags:
			v, _ := ev.Get(mkv.TagFragmentNumber)
			fmt.Println("fragment number", v)
		}
	}
	// Output:
	// track 1 A_OPUS
	// cluster at 60000 ms
	// frame 60000 [252 0]
	// frame 60020 [252 1]
	// frame 60040 [252 2]
	// fragment number 42
}
