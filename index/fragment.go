package index

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/fxamacker/cbor/v2"

	"github.com/kinedge/kinedge/index/store"
)

// TrackInfo describes one track of a fragment.
type TrackInfo struct {
	// Codec is the codec name, e.g. "H264", "H265", "AAC", "Opus".
	Codec string `cbor:"1,keyasint,omitempty"`
	// Kind is "video" or "audio".
	Kind string `cbor:"2,keyasint,omitempty"`
	// Frames is the number of the track's frames in the fragment (0 in
	// fragments stored before it was kept).
	Frames int `cbor:"3,keyasint,omitempty"`
	// Width and Height of a video track in pixels, 0 when unknown.
	Width  int `cbor:"4,keyasint,omitempty"`
	Height int `cbor:"5,keyasint,omitempty"`
}

// Fragment is the metadata of one stored fragment (KVS Fragment).
type Fragment struct {
	// Number is the fragment number, from NextFragmentNumber.
	Number uint64
	// Stream is the video stream's name.
	Stream string
	// ServerTime is when the appliance received the fragment's first frame
	// (KVS ServerTimestamp); ProducerTime is the camera's clock for it
	// (KVS ProducerTimestamp).
	ServerTime, ProducerTime time.Time
	// Duration is the fragment's media duration.
	Duration time.Duration
	// Size is the size in bytes of the sealed blob.
	Size int64
	// KeyID names the data key that sealed the blob.
	KeyID string
	// Tracks lists the fragment's tracks.
	Tracks []TrackInfo
	// Frames is the number of frames in the fragment.
	Frames int
	// Gap is set on the first fragment after a discontinuity.
	Gap bool
	// SHA256 is the digest of the sealed blob.
	SHA256 [32]byte
	// ClockUnsynced marks a fragment recorded before the system clock
	// was known to be right (a board without a real-time clock waiting
	// for NTP): its ServerTime is on the boot's monotonic timeline and
	// may move when the clock is set (CorrectClock; docs/clock.md).
	ClockUnsynced bool
	// ClockOffset is the correction of the boot's timeline already in
	// ServerTime (what CorrectClock moved it by); meaningful with
	// ClockUnsynced.
	ClockOffset time.Duration
}

// NumberString returns the fragment number as KVS writes it: a decimal
// string.
func (f *Fragment) NumberString() string {
	return strconv.FormatUint(f.Number, 10)
}

// fragmentRecord is a Fragment as stored (CBOR, integer keys).
type fragmentRecord struct {
	Number   uint64      `cbor:"1,keyasint"`
	SID      uint64      `cbor:"2,keyasint"`
	Stream   string      `cbor:"3,keyasint"`
	Server   int64       `cbor:"4,keyasint"`
	Producer int64       `cbor:"5,keyasint"`
	Duration int64       `cbor:"6,keyasint"`
	Size     int64       `cbor:"7,keyasint"`
	KeyID    string      `cbor:"8,keyasint,omitempty"`
	Tracks   []TrackInfo `cbor:"9,keyasint,omitempty"`
	Frames   int         `cbor:"10,keyasint,omitempty"`
	Gap      bool        `cbor:"11,keyasint,omitempty"`
	SHA256   []byte      `cbor:"12,keyasint"`
	Bucket   int64       `cbor:"13,keyasint"`
	Unsynced bool        `cbor:"14,keyasint,omitempty"`
	Offset   int64       `cbor:"15,keyasint,omitempty"`
}

// fragment converts r to the exported shape.
func (r *fragmentRecord) fragment() Fragment {
	f := Fragment{
		Number:        r.Number,
		Stream:        r.Stream,
		ServerTime:    time.Unix(0, r.Server).UTC(),
		ProducerTime:  time.Unix(0, r.Producer).UTC(),
		Duration:      time.Duration(r.Duration),
		Size:          r.Size,
		KeyID:         r.KeyID,
		Tracks:        r.Tracks,
		Frames:        r.Frames,
		Gap:           r.Gap,
		ClockUnsynced: r.Unsynced,
		ClockOffset:   time.Duration(r.Offset),
	}
	copy(f.SHA256[:], r.SHA256)
	return f
}

// decodeRecord decodes a stored fragment record.
func decodeRecord(v []byte) (fragmentRecord, error) {
	var r fragmentRecord
	if err := cbor.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("%w: fragment: %w", ErrCorrupt, err)
	}
	return r, nil
}

// itemRecord decodes the fragment record held by item.
func itemRecord(item *badger.Item) (fragmentRecord, error) {
	var r fragmentRecord
	err := item.Value(func(v []byte) error {
		var err error
		r, err = decodeRecord(v)
		return err
	})
	return r, err
}

// NextFragmentNumber returns a fragment number never returned before by
// this database, greater than every one returned before, across restarts
// and crashes (a badger Sequence: leases of 1000 are persisted before use,
// so a crash leaves a gap).
func (x *Index) NextFragmentNumber(ctx context.Context) (uint64, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	x.numMu.Lock()
	defer x.numMu.Unlock()
	n, err := x.seqNext(x.fragSeq)
	if err != nil {
		return 0, fmt.Errorf("index: fragment sequence: %w", err)
	}
	return x.numBase.Load() + n + 1, nil
}

// FragmentNumbersIssued reports whether this database has ever issued a
// fragment number or had its numbers seeded: false only for a fresh
// database, whose numbering the archive may still choose (see
// firehose/archive's Seeder).
func (x *Index) FragmentNumbersIssued(ctx context.Context) (bool, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return false, err
	}
	defer done()
	if x.numBase.Load() != 0 {
		return true, nil
	}
	issued := false
	err = x.view(func(txn *store.Txn) error {
		_, err := txn.Get([]byte(keySeqFragment))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		issued = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("index: fragment sequence: %w", err)
	}
	return issued, nil
}

// SeedFragmentNumbers makes every fragment number issued from now on
// greater than above: a replacement appliance that records under its
// predecessor's appliance id continues the numbers of its archive, whose
// object keys hold them. It moves the base added to the sequence's
// numbers (persisted; it only grows) unless a stored fragment already
// has a number past above. Call it before recording starts if it can be;
// called while recording, the numbers issued after it are past above and
// past every number issued before.
func (x *Index) SeedFragmentNumbers(ctx context.Context, above uint64) error {
	done, err := x.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	x.numMu.Lock()
	defer x.numMu.Unlock()
	var base uint64 // set when the transaction moves the base
	err = x.update(ctx, store.Meta, func(txn *store.Txn) error {
		base = 0
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxNumber), Reverse: true})
		defer it.Close()
		it.Seek(append([]byte(pfxNumber), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
		if it.Valid() {
			if k := it.Item().Key(); len(k) == len(pfxNumber)+8 && binary.BigEndian.Uint64(k[len(pfxNumber):]) > above {
				return nil
			}
		}
		if above <= x.numBase.Load() {
			return nil
		}
		base = above
		return txn.Set([]byte(keyNumberBase), binary.BigEndian.AppendUint64(nil, above))
	})
	if err != nil {
		return fmt.Errorf("index: seed fragment numbers above %d: %w", above, err)
	}
	if base != 0 {
		x.numBase.Store(base)
	}
	return nil
}

// loadNumberBase reads the base of the fragment numbers.
func (x *Index) loadNumberBase() error {
	return x.view(func(txn *store.Txn) error {
		item, err := txn.Get([]byte(keyNumberBase))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: fragment number base of %d bytes", ErrCorrupt, len(v))
			}
			x.numBase.Store(binary.BigEndian.Uint64(v))
			return nil
		})
	})
}

// cutoff returns the oldest server time of rec's stream that reads still
// show: its retention's, or the eviction floor when that is later.
func (x *Index) cutoff(rec *streamRecord, now time.Time) time.Time {
	return cutoffAt(x.retentionCutoff(rec, now), x.floor.Load())
}

// retentionCutoff returns the oldest server time rec's retention keeps.
func (x *Index) retentionCutoff(rec *streamRecord, now time.Time) time.Time {
	return now.Add(-rec.retention(x.opts.ZeroRetention))
}

// cutoffAt returns the later of the retention cutoff and the eviction
// floor (Unix ns).
func cutoffAt(retention time.Time, floor int64) time.Time {
	if floor > retention.UnixNano() {
		return time.Unix(0, floor).UTC()
	}
	return retention
}

// expiresAt returns the badger TTL (Unix seconds on the real clock) of the
// keys of a fragment in the bucket ending at end (Unix seconds on the
// injected clock): the bucket's end plus the retention plus ExpirySlack.
func (x *Index) expiresAt(end int64, ret time.Duration, now time.Time) uint64 {
	exp := time.Unix(end, 0).Add(ret + x.opts.ExpirySlack)
	real := time.Now().Add(exp.Sub(now)).Unix()
	if real < 1 {
		real = 1
	}
	return uint64(real)
}

// PutFragment stores f and its sealed blob, its number, server time and
// producer time index entries in one transaction, durable when it
// returns (unless Options.NoSync). Concurrent calls share fsyncs (badger
// group commit). A zero ServerTime is set to Now, a zero ProducerTime to
// ServerTime, a zero Size to len(sealed) and a zero SHA256 to the digest of
// sealed. The stream must exist; a fragment older than the stream's
// retention is refused (ErrInvalidFragment), since no read would return it.
// sealed must not be modified until PutFragment returns.
func (x *Index) PutFragment(ctx context.Context, f Fragment, sealed []byte) error {
	done, err := x.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	if f.Number == 0 || f.Stream == "" {
		return fmt.Errorf("%w: number %d, stream %q", ErrInvalidFragment, f.Number, f.Stream)
	}
	if f.Size == 0 {
		f.Size = int64(len(sealed))
	}
	if f.Size != int64(len(sealed)) {
		return fmt.Errorf("%w: size %d, sealed blob is %d bytes", ErrInvalidFragment, f.Size, len(sealed))
	}
	now := x.opts.Now()
	if f.ServerTime.IsZero() {
		f.ServerTime = now
	}
	if f.ProducerTime.IsZero() {
		f.ProducerTime = f.ServerTime
	}
	if f.SHA256 == ([32]byte{}) {
		f.SHA256 = sha256.Sum256(sealed)
	}
	rec := fragmentRecord{
		Number:   f.Number,
		Stream:   f.Stream,
		Server:   f.ServerTime.UnixNano(),
		Producer: f.ProducerTime.UnixNano(),
		Duration: int64(f.Duration),
		Size:     f.Size,
		KeyID:    f.KeyID,
		Tracks:   f.Tracks,
		Frames:   f.Frames,
		Gap:      f.Gap,
		SHA256:   f.SHA256[:],
		Bucket:   bucketEnd(f.ServerTime, x.bucketWidth(now)),
		Unsynced: f.ClockUnsynced,
		Offset:   int64(f.ClockOffset),
	}
	err = x.update(ctx, store.Data, func(txn *store.Txn) error {
		srec, err := getStream(txn, f.Stream)
		if err != nil {
			return err
		}
		// The floor is read in the transaction: an eviction that raises
		// it meanwhile makes this commit conflict and run again.
		floor, err := readFloor(txn)
		if err != nil {
			return err
		}
		if err := x.checkTime(f.ServerTime, now); err != nil {
			return fmt.Errorf("%w: fragment %d: %w", ErrInvalidFragment, f.Number, err)
		}
		if f.ServerTime.Before(x.retentionCutoff(&srec, now)) {
			return fmt.Errorf("%w: fragment %d server time %v is beyond stream %q retention", ErrInvalidFragment, f.Number, f.ServerTime, f.Stream)
		}
		if f.ServerTime.UnixNano() < floor {
			return fmt.Errorf("%w: fragment %d server time %v is before the eviction floor %v (media that old was evicted for the storage budget)",
				ErrInvalidFragment, f.Number, f.ServerTime, time.Unix(0, floor).UTC())
		}
		rec.SID = srec.ID
		if rec.Duration > srec.MaxFragment {
			srec.MaxFragment = rec.Duration
			if err := putStream(txn, &srec); err != nil {
				return err
			}
		}
		nk := numberKey(f.Number)
		if _, err := txn.Get(nk); err == nil {
			return fmt.Errorf("%w: %d", ErrFragmentExists, f.Number)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		entries, err := x.entries(&srec, &rec, sealed, now)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		}
		return addUsage(txn, srec.ID, rec.Bucket, bucketUsage{bytes: f.Size, fragments: 1})
	})
	if err != nil {
		return fmt.Errorf("index: put fragment %d: %w", f.Number, err)
	}
	x.addStreamUsage(rec.SID, f.Size)
	x.rate.add(now, f.Size)
	x.stats.fragmentsStored.Add(1)
	x.stats.bytesStored.Add(uint64(len(sealed)))
	x.stored.broadcast(f.Stream)
	return nil
}

// entries returns the four keys of a fragment: blob, number, server and
// producer time index entries, all with the same TTL. A fragment recorded
// before the clock was set has none: badger reads TTLs on the system
// clock, and one stamped while that clock reads 1970 would expire all at
// once when NTP sets it, before CorrectClock could move the fragment
// (retention, on the index's clock, still removes it).
func (x *Index) entries(srec *streamRecord, rec *fragmentRecord, sealed []byte, now time.Time) ([]*badger.Entry, error) {
	meta, err := cbor.Marshal(rec)
	if err != nil {
		return nil, err
	}
	var exp uint64
	if !rec.Unsynced {
		exp = x.expiresAt(rec.Bucket, srec.retention(x.opts.ZeroRetention), now)
	}
	return []*badger.Entry{
		{Key: blobKey(srec.ID, rec.Bucket, rec.Number), Value: sealed, ExpiresAt: exp},
		{Key: numberKey(rec.Number), Value: meta, ExpiresAt: exp},
		{Key: timeKey(pfxServer, srec.ID, uint64(rec.Server)^(1<<63), rec.Number), Value: meta, ExpiresAt: exp},
		{Key: timeKey(pfxProducer, srec.ID, uint64(rec.Producer)^(1<<63), rec.Number), Value: meta, ExpiresAt: exp},
	}, nil
}

// visibleRecord reads fragment number's record in txn and checks that its
// stream still exists (same id) and still shows it.
func (x *Index) visibleRecord(txn *store.Txn, number uint64) (fragmentRecord, error) {
	item, err := txn.Get(numberKey(number))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fragmentRecord{}, fmt.Errorf("%w: %d", ErrFragmentNotFound, number)
	}
	if err != nil {
		return fragmentRecord{}, err
	}
	rec, err := itemRecord(item)
	if err != nil {
		return rec, err
	}
	srec, err := getStream(txn, rec.Stream)
	if errors.Is(err, ErrStreamNotFound) || (err == nil && srec.ID != rec.SID) {
		return rec, fmt.Errorf("%w: %d (stream %q deleted)", ErrFragmentNotFound, number, rec.Stream)
	}
	if err != nil {
		return rec, err
	}
	if rec.Server < x.cutoff(&srec, x.opts.Now()).UnixNano() {
		return rec, fmt.Errorf("%w: %d (beyond retention)", ErrFragmentNotFound, number)
	}
	return rec, nil
}

// Fragment returns fragment number's metadata, or an error wrapping
// ErrFragmentNotFound.
func (x *Index) Fragment(ctx context.Context, number uint64) (Fragment, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return Fragment{}, err
	}
	defer done()
	var rec fragmentRecord
	err = x.view(func(txn *store.Txn) error {
		rec, err = x.visibleRecord(txn, number)
		return err
	})
	if err != nil {
		return Fragment{}, err
	}
	return rec.fragment(), nil
}

// Blob returns a copy of fragment number's sealed blob, or an error
// wrapping ErrFragmentNotFound.
func (x *Index) Blob(ctx context.Context, number uint64) ([]byte, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []byte
	err = x.view(func(txn *store.Txn) error {
		rec, err := x.visibleRecord(txn, number)
		if err != nil {
			return err
		}
		item, err := txn.Get(blobKey(rec.SID, rec.Bucket, number))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: %d (blob missing)", ErrFragmentNotFound, number)
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}
