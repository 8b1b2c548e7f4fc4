package fragment

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// BlobFromMKV turns a self-contained Matroska file of one fragment (as
// replay.AppendFragmentMKV writes it, and the plaintext video archive
// stores it) back into blob plaintext: its Tracks and its Cluster, which
// DecodeBlob then reads. p is untrusted; the result does not alias it.
func BlobFromMKV(p []byte) ([]byte, error) {
	tracks, cluster, err := mkv.SplitFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptBlob, err)
	}
	if len(tracks) > maxTracksElement {
		return nil, fmt.Errorf("%w: tracks element of %d bytes", ErrCorruptBlob, len(tracks))
	}
	b := slices.Grow([]byte(nil), len(blobMagic)+binary.MaxVarintLen64+len(tracks)+len(cluster))
	b = append(b, blobMagic...)
	b = binary.AppendUvarint(b, uint64(len(tracks)))
	b = append(b, tracks...)
	return append(b, cluster...), nil
}
