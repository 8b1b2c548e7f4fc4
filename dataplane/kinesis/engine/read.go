package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
)

// GetShardIterator returns an iterator for shard shardID of stream name
// (GetShardIterator API). seq is used by AT_ and AFTER_SEQUENCE_NUMBER, ts
// by AT_TIMESTAMP.
func (e *Engine) GetShardIterator(name, id string, typ IteratorType, seq string, ts time.Time) (string, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s, err := e.getLocked(name)
	if err != nil {
		return "", err
	}
	sh := e.findShard(s, id)
	if sh == nil {
		return "", newErr(ErrNotFound, fmt.Sprintf("Shard %s in stream %s under account %s does not exist", id, name, e.opts.AccountID))
	}
	tok := iterToken{streamID: s.meta.ID, shard: sh.m.Index, issued: e.now()}
	switch typ {
	case TrimHorizon:
		tok.pos = 0
	case Latest:
		tok.pos = sh.visible.Load() + 1
	case AtSequenceNumber, AfterSequenceNumber:
		sn, ok := parseSeq(seq)
		if !ok {
			return "", newErr(ErrInvalidArgument, fmt.Sprintf("StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid.", seq, id, name, e.opts.AccountID))
		}
		if sn.shard != sh.m.Index {
			return "", newErr(ErrInvalidArgument, fmt.Sprintf("Invalid StartingSequenceNumber. It encodes %s, while it was used in a call to a shard with %s", shardID(sn.shard), id))
		}
		tok.pos = sn.counter
		if typ == AfterSequenceNumber {
			tok.pos++
		}
	case AtTimestamp:
		if ts.After(e.now()) {
			// Kinesis: a future timestamp reads what arrives from now on.
			tok.pos = sh.visible.Load() + 1
		} else {
			tok.pos = counterAt(ts)
		}
	default:
		return "", newErr(ErrInvalidArgument, fmt.Sprintf("Invalid ShardIteratorType %s.", typ))
	}
	return encodeIterator(e.secret, tok), nil
}

func (e *Engine) findShard(s *stream, id string) *shard {
	idx, ok := parseShardID(id)
	if !ok {
		return nil
	}
	return s.shardByIndex(idx)
}

// GetRecords reads up to limit records (0: MaxGetRecordsCount) from the
// position of iterator (GetRecords API). At the end of a closed shard the
// result has no NextShardIterator and lists ChildShards.
func (e *Engine) GetRecords(iterator string, limit int) (GetRecordsResult, error) {
	return e.getRecords(iterator, limit, e.opts.Limits.Enabled)
}

// ReadRecords is GetRecords without the shard read limits: enhanced
// fan-out (SubscribeToShard) gives each consumer its own 2 MiB/s pipe, which
// the caller paces.
func (e *Engine) ReadRecords(iterator string, limit int) (GetRecordsResult, error) {
	return e.getRecords(iterator, limit, false)
}

func (e *Engine) getRecords(iterator string, limit int, limited bool) (GetRecordsResult, error) {
	if limit <= 0 || limit > MaxGetRecordsCount {
		limit = defaultGetRecordsLimit
	}
	tok, ok := decodeIterator(e.secret, iterator)
	if !ok {
		return GetRecordsResult{}, newErr(ErrInvalidArgument, "Invalid ShardIterator.")
	}
	now := e.now()
	if age := now.Sub(tok.issued); age > IteratorTTL {
		return GetRecordsResult{}, newErr(ErrExpiredIterator, fmt.Sprintf("Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			tok.issued.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123), IteratorTTL.Milliseconds()))
	}
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return GetRecordsResult{}, ErrClosed
	}
	s := e.byID[tok.streamID]
	var sh *shard
	if s != nil {
		sh = s.shardByIndex(tok.shard)
	}
	if sh == nil {
		e.mu.RUnlock()
		return GetRecordsResult{}, newErr(ErrNotFound, fmt.Sprintf("Shard %s in stream under account %s does not exist", shardID(tok.shard), e.opts.AccountID))
	}
	if limited && !sh.out.takeA(now, 1) {
		e.mu.RUnlock()
		e.stats.throttledReads.Add(1)
		return GetRecordsResult{}, newErr(ErrThroughputExceeded, fmt.Sprintf("Rate exceeded for shard %s in stream %s under account %s.", sh.id(), s.meta.Name, e.opts.AccountID))
	}
	// visible is read before the snapshot is taken, so every record up to
	// it is in the snapshot.
	visible := sh.visible.Load()
	// A closed shard ends once its last record is visible.
	closed := sh.m.Closed && visible >= sh.m.EndCounter
	var children []ChildShard
	if closed {
		children = e.childrenLocked(s, sh)
	}
	streamID, idx := s.meta.ID, sh.m.Index
	e.mu.RUnlock()

	res := GetRecordsResult{}
	pos := tok.pos
	exhausted := true
	size := 0
	err := e.sp.View(func(txn *store.Txn) error {
		p := e.shardPrefix(streamID, idx)
		opts := badger.DefaultIteratorOptions
		opts.Prefix = p
		opts.PrefetchSize = min(limit, 100)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(binary.BigEndian.AppendUint64(bytes.Clone(p), pos)); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) != len(p)+8 {
				return fmt.Errorf("%w: record key", ErrCorrupt)
			}
			ctr := binary.BigEndian.Uint64(k[len(p):])
			if ctr > visible {
				break
			}
			if len(res.Records) >= limit || size >= MaxGetRecordsSize {
				exhausted = false
				break
			}
			var rec Record
			err := item.Value(func(v []byte) error {
				pk, data, flags, err := decodeRecord(v)
				if err != nil {
					return err
				}
				if flags&flagSealed != 0 {
					if data, err = e.open(streamID, idx, ctr, flags, data); err != nil {
						return err
					}
				}
				rec = Record{
					SequenceNumber:              seqNum{shard: idx, counter: ctr}.String(),
					ApproximateArrivalTimestamp: counterTime(ctr),
					PartitionKey:                pk,
					Data:                        bytes.Clone(data),
					EncryptionType:              EncryptionNone,
				}
				if flags&flagKMS != 0 {
					rec.EncryptionType = EncryptionKMS
				}
				return nil
			})
			if err != nil {
				return err
			}
			size += len(rec.Data) + len(rec.PartitionKey)
			res.Records = append(res.Records, rec)
			pos = ctr + 1
		}
		return nil
	})
	if err != nil {
		return GetRecordsResult{}, fmt.Errorf("kinesis: read records: %w", err)
	}
	if limited {
		sh.out.charge(float64(size))
	}
	e.stats.recordsRead.Add(uint64(len(res.Records)))
	e.stats.bytesRead.Add(uint64(size))
	if !exhausted && len(res.Records) > 0 {
		res.MillisBehindLatest = timeBehind(now, res.Records[len(res.Records)-1].ApproximateArrivalTimestamp)
	}
	if closed && exhausted {
		res.ChildShards = children
		return res, nil
	}
	res.ContinuationSequenceNumber = seqNum{shard: idx, counter: max(pos, tok.pos, 1) - 1}.String()
	res.NextShardIterator = encodeIterator(e.secret, iterToken{streamID: streamID, shard: idx, pos: max(pos, tok.pos), issued: now})
	return res, nil
}

// open opens the sealed data of the record at counter ctr of shard idx of
// stream streamID. A record that does not open where it is stored (moved,
// swapped, altered) is an ErrCorrupt error: its bytes are never returned.
func (e *Engine) open(streamID uint64, idx uint32, ctr uint64, flags byte, data []byte) ([]byte, error) {
	sn := seqNum{shard: idx, counter: ctr}
	if e.opts.Sealer == nil {
		return nil, fmt.Errorf("%w: record %s of %s is sealed and the engine has no Sealer", ErrCorrupt, sn, shardID(idx))
	}
	name, n := sealStream(streamID), uint64(0) // sealed before flagBound
	if flags&flagBound != 0 {
		name, n = sealedName(streamID, idx), ctr
	}
	plain, err := e.opts.Sealer.Open(context.Background(), name, n, data)
	switch {
	case errors.Is(err, seal.ErrAuthentication), errors.Is(err, seal.ErrMalformed):
		return nil, fmt.Errorf("%w: record %s of %s does not open at its position (moved, swapped or altered): %w", ErrCorrupt, sn, shardID(idx), err)
	case err != nil:
		return nil, fmt.Errorf("kinesis: open sealed record %s of %s: %w", sn, shardID(idx), err)
	}
	return plain, nil
}

// childrenLocked lists the children of closed shard sh. Caller holds e.mu.
func (e *Engine) childrenLocked(s *stream, sh *shard) []ChildShard {
	var out []ChildShard
	for _, c := range s.shards {
		if c.m.Parent != int64(sh.m.Index) && c.m.Adjacent != int64(sh.m.Index) {
			continue
		}
		cs := ChildShard{ShardID: c.id(), StartingHashKey: c.start, EndingHashKey: c.end}
		if c.m.Parent >= 0 {
			cs.ParentShards = append(cs.ParentShards, shardID(uint32(c.m.Parent)))
		}
		if c.m.Adjacent >= 0 {
			cs.ParentShards = append(cs.ParentShards, shardID(uint32(c.m.Adjacent)))
		}
		out = append(out, cs)
	}
	return out
}
