package rtsp

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/kinedge/kinedge/ingest/media"
)

// supportedCodecs names the codecs a session records, as gortsplib names
// them, for the refusals that list them.
const supportedCodecs = "H264, H265, VP8, VP9, AV1, M-JPEG, AAC, Opus, G711, LPCM"

// selectedTrack is a track of a session description that a session
// ingests: its media, format and decoder.
type selectedTrack struct {
	medi  *description.Media
	forma format.Format
	dec   *trackDecoder
}

// selectTracks picks at most one video and one audio track of a session
// description, one format per media, for the push server and the puller
// alike. found lists every format's codec.
func selectTracks(medias []*description.Media, log *slog.Logger) (tracks []selectedTrack, found, skipped []string) {
	var haveVideo, haveAudio bool
	for _, medi := range medias {
		var codecs, why []string
		picked := false
		for _, forma := range medi.Formats {
			found = append(found, forma.Codec())
			codecs = append(codecs, forma.Codec())
			d, err := newTrackDecoder(len(tracks), forma)
			if err != nil {
				why = append(why, err.Error())
				continue
			}
			kind := d.Track().Kind()
			if (kind == media.KindVideo && haveVideo) || (kind == media.KindAudio && haveAudio) {
				why = append(why, "one "+kind.String()+" track per stream is recorded")
				continue
			}
			haveVideo = haveVideo || kind == media.KindVideo
			haveAudio = haveAudio || kind == media.KindAudio
			tracks = append(tracks, selectedTrack{medi: medi, forma: forma, dec: d})
			picked = true
			break // one format per media: SETUP is per media
		}
		if !picked && len(codecs) > 0 {
			// RTSP has no warning status: the log, the metric and the
			// stream's state tell the operator.
			s := fmt.Sprintf("%s %s: %s", medi.Type, strings.Join(codecs, "/"), strings.Join(why, "; "))
			skipped = append(skipped, s)
			log.Warn("rtsp track skipped: the session records without it", "track", s)
		}
	}
	return tracks, found, skipped
}
