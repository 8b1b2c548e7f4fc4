package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/firehose/archive"
	"github.com/kinedge/kinedge/fragment/seal"
)

// tier is the video API's second tier (videoapi.Archive) on the archive's
// bucket, sealed or plaintext: the manifests of the hours of a range list
// the archived fragments, and each one is fetched from the bucket when
// replayed (opened with the master key, or taken out of its MKV). The
// manifests and hour listings are read through a Cache that keeps what
// the archiver has settled for good and the rest for a TTL; which local
// fragments are archived comes from the archiver's state, not the
// bucket, and so do the data keys this appliance holds (the bucket's
// key objects are read for a predecessor's).
type tier struct {
	remote   *archive.Remote
	cache    *archive.Cache
	archiver *archive.Archiver
}

// newTier returns the tier on bucket, with its manifest cache.
func newTier(bucket archive.Reader, cfg *Config, masters seal.MasterKeys, arch *archive.Archiver) tier {
	cache := &archive.Cache{
		Reader: bucket, Root: archive.Root(cfg.Archive.Prefix, cfg.ApplianceID, ""),
		SettledThrough: func(stream string) time.Time {
			t, err := arch.SettledThrough(stream)
			if err != nil {
				return time.Time{} // nothing final: read again after the TTL
			}
			return t
		},
	}
	return tier{remote: &archive.Remote{Bucket: cache, Prefix: cfg.Archive.Prefix, ApplianceID: cfg.ApplianceID, Master: masters.Active, Retired: masters.Others(),
		Local: arch.Keys}, cache: cache, archiver: arch}
}

func (t tier) Streams(ctx context.Context) ([]string, error) {
	return t.remote.Streams(ctx)
}

func (t tier) Archived(ctx context.Context, stream string) (func(time.Time, uint64) bool, error) {
	return t.archiver.Listed(stream)
}

func (t tier) Fragments(ctx context.Context, stream string, q videoapi.ArchiveQuery) ([]videoapi.ArchivedFragment, error) {
	var keep func(archive.Entry) bool
	if q.ByProducer {
		keep = func(e archive.Entry) bool { return q.Keep(e.ProducerTime) }
	}
	frags, entries, src, err := t.remote.SourceWhere(ctx, stream, q.Start, q.End, q.Limit, keep)
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

// tierCollectors returns the metrics of the tier's manifest cache (none
// without an archive).
func tierCollectors(a videoapi.Archive) []prometheus.Collector {
	t, ok := a.(tier)
	if !ok {
		return nil
	}
	return []prometheus.Collector{archive.NewCacheCollector(t.cache)}
}
