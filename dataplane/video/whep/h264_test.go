package whep

import (
	"bytes"
	"errors"
	"testing"
)

func nal(typ byte, body ...byte) []byte { return append([]byte{typ}, body...) }

func avccOf(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

func annexBOf(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

var (
	sps  = nal(0x67, 0x64, 0x00, 0x1f, 0xac)
	pps  = nal(0x68, 0xee, 0x3c)
	idr  = nal(0x65, 0x88, 0x84)
	pfr  = nal(0x41, 0x9a)
	aud  = nal(0x09, 0xf0)
	sps2 = nal(0x67, 0x42, 0xc0, 0x1e)
)

func TestAnnexB(t *testing.T) {
	for _, tc := range []struct {
		name    string
		au      []byte
		key     bool
		ps      paramSets
		want    []byte
		wantErr bool
	}{
		{name: "keyframe with its parameter sets, AUD dropped", au: avccOf(aud, sps, pps, idr), key: true, want: annexBOf(sps, pps, idr)},
		{name: "keyframe without: from the track", au: avccOf(idr), key: true, ps: paramSets{sps: sps, pps: pps}, want: annexBOf(sps, pps, idr)},
		{name: "keyframe with a lone SPS: the pair goes first", au: avccOf(sps2, idr), key: true, ps: paramSets{sps: sps, pps: pps}, want: annexBOf(sps2, pps, idr)},
		{name: "keyframe without, none known", au: avccOf(idr), key: true, want: annexBOf(idr)},
		{name: "P-frame gets nothing", au: avccOf(pfr), ps: paramSets{sps: sps, pps: pps}, want: annexBOf(pfr)},
		{name: "truncated length", au: []byte{0, 0, 0}, wantErr: true},
		{name: "length past the end", au: []byte{0, 0, 0, 9, 0x65}, wantErr: true},
		{name: "zero length", au: []byte{0, 0, 0, 0}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := tc.ps
			got, err := annexB(tc.au, tc.key, &ps)
			if tc.wantErr {
				if !errors.Is(err, ErrBadAccessUnit) {
					t.Fatalf("err %v, want ErrBadAccessUnit", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %x, %v; want %x", got, err, tc.want)
			}
		})
	}
	// Parameter sets seen in-band serve the next keyframe that lacks them.
	var ps paramSets
	if _, err := annexB(avccOf(sps, pps, idr), true, &ps); err != nil {
		t.Fatal(err)
	}
	if got, _ := annexB(avccOf(idr), true, &ps); !bytes.Equal(got, annexBOf(sps, pps, idr)) {
		t.Fatalf("the next keyframe: %x", got)
	}
}

func FuzzAnnexB(f *testing.F) {
	f.Add(avccOf(aud, sps, pps, idr), true)
	f.Add(avccOf(idr), true)
	f.Add(avccOf(pfr), false)
	f.Add([]byte{0, 0, 0, 9, 0x65}, false)
	f.Fuzz(func(t *testing.T, au []byte, key bool) {
		ps := paramSets{sps: sps, pps: pps}
		out, err := annexB(au, key, &ps)
		if err != nil {
			if !errors.Is(err, ErrBadAccessUnit) {
				t.Fatalf("error not ErrBadAccessUnit: %v", err)
			}
			return
		}
		if len(out) > len(au)+8+len(sps)+len(pps)+4*len(au) {
			t.Fatalf("output %d bytes for %d in", len(out), len(au))
		}
	})
}

func FuzzParseOffer(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=recvonly\r\n"))
	f.Add([]byte("v=0\r\n"))
	f.Add([]byte("hello"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseOffer(b)
		if err != nil {
			return
		}
		if o.ufrag == "" || o.pwd == "" {
			t.Fatal("accepted an offer without ICE credentials")
		}
		// planTracks must not panic on anything parseOffer accepts.
		planTracks(h264Track, o)
	})
}
