package main

import (
	"context"
	"time"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/firehose/archive"
)

// tier is the video API's second tier (videoapi.Archive) on the sealed
// archive's bucket: the manifests of the hours of a range, read on
// demand, list the archived fragments, and each one is fetched from the
// bucket and opened with the master key when replayed.
type tier struct {
	remote *archive.Remote
}

func (t tier) Streams(ctx context.Context) ([]string, error) {
	return t.remote.Streams(ctx)
}

func (t tier) Fragments(ctx context.Context, stream string, start, end time.Time) ([]videoapi.ArchivedFragment, error) {
	frags, entries, src, err := t.remote.Source(ctx, stream, start, end)
	if err != nil {
		return nil, err
	}
	out := make([]videoapi.ArchivedFragment, len(frags))
	for i, f := range frags {
		f.From = &src
		out[i] = videoapi.ArchivedFragment{Fragment: f, Size: entries[i].Size, KeyID: entries[i].KeyID, Gap: entries[i].Gap}
	}
	return out, nil
}
