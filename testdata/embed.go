// Package testdata holds kinedge's committed test clips (made by gen.sh, see
// README.md) and embeds them, so tools such as `kinedge camsim` work without
// any file at hand.
package testdata

import (
	"embed"
)

// clips holds the committed clips. It is read-only: embed.FS has no setters.
//
//go:embed h264_aac.ts h265_opus.ts
var clips embed.FS

// Clip names, as accepted by Clip.
const (
	// NameH264AAC is MPEG-TS, H.264 Main 320x240 25 fps (2 B-frames, GOP 25)
	// with AAC-LC 48 kHz stereo, 10 s.
	NameH264AAC = "h264_aac.ts"
	// NameH265Opus is MPEG-TS, H.265 Main 320x240 25 fps (GOP 50) with Opus
	// 48 kHz stereo, 10 s.
	NameH265Opus = "h265_opus.ts"
)

// Names lists the embedded clips.
func Names() []string { return []string{NameH264AAC, NameH265Opus} }

// Clip returns a copy of the named embedded clip, or false if there is none.
func Clip(name string) ([]byte, bool) {
	b, err := clips.ReadFile(name)
	if err != nil {
		return nil, false
	}
	return b, true
}
