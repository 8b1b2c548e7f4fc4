package rtsp

import (
	"log/slog"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/kinedge/kinedge/ingest/media"
)

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
func selectTracks(medias []*description.Media, log *slog.Logger) (tracks []selectedTrack, found []string) {
	var haveVideo, haveAudio bool
	for _, medi := range medias {
		for _, forma := range medi.Formats {
			found = append(found, forma.Codec())
			d, err := newTrackDecoder(len(tracks), forma)
			if err != nil {
				log.Info("rtsp track ignored", "media", string(medi.Type), "codec", forma.Codec(), "err", err)
				continue
			}
			kind := d.Track().Kind()
			if (kind == media.KindVideo && haveVideo) || (kind == media.KindAudio && haveAudio) {
				log.Info("rtsp track ignored: one per kind", "media", string(medi.Type), "codec", forma.Codec())
				continue
			}
			haveVideo = haveVideo || kind == media.KindVideo
			haveAudio = haveAudio || kind == media.KindAudio
			tracks = append(tracks, selectedTrack{medi: medi, forma: forma, dec: d})
			break // one format per media: SETUP is per media
		}
	}
	return tracks, found
}
