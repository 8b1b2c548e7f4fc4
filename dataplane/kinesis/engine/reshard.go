package engine

import (
	"fmt"
	"math/big"
)

// Resharding (SplitShard, MergeShards, UpdateShardCount API reference).
//
// A reshard closes its parent shards at their last sequence number and
// creates children. Children start after every parent's last counter, so
// for any partition key the child's sequence numbers follow the parent's.
// Streams stay ACTIVE: the change is applied at once, between two group
// commits.

// reshard runs op on stream name under the write lock, checks the shard
// limit, and saves; on failure the stream is restored.
func (e *Engine) reshard(name string, op func(s *stream, r *reshardTx) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.getLocked(name)
	if err != nil {
		return err
	}
	if s.meta.Status != StatusActive {
		return newErr(ErrInUse, fmt.Sprintf("Stream %s under account %s not ACTIVE, instead in state %s", name, e.opts.AccountID, s.meta.Status))
	}
	r := &reshardTx{e: e, nowMs: e.now().UnixMilli(), savedShards: append([]*shard(nil), s.shards...), savedNext: s.meta.NextShard}
	for _, sh := range s.shards {
		r.savedMeta = append(r.savedMeta, sh.m)
	}
	restore := func() {
		s.shards = r.savedShards
		for i, sh := range s.shards {
			sh.m = r.savedMeta[i]
		}
		s.meta.NextShard = r.savedNext
		s.rebuildOpen()
	}
	if err := op(s, r); err != nil {
		restore()
		return err
	}
	if open := e.openShardsLocked(); open > e.opts.MaxShards {
		restore()
		return newErr(ErrLimitExceeded, fmt.Sprintf("This request would exceed the shard limit for the account %s in %s. Current limit of shards is %d.", e.opts.AccountID, e.opts.Region, e.opts.MaxShards))
	}
	if err := e.saveLocked(s); err != nil {
		restore()
		return fmt.Errorf("kinesis: save %s: %w", name, err)
	}
	e.notify() // readers waiting at the end of a closed shard
	return nil
}

type reshardTx struct {
	e           *Engine
	nowMs       int64
	savedShards []*shard
	savedMeta   []shardMeta
	savedNext   uint32
}

func (r *reshardTx) close(sh *shard) {
	sh.m.Closed = true
	sh.m.EndCounter = max(sh.last, sh.m.StartCounter)
	sh.m.ClosedMs = r.nowMs
}

func (r *reshardTx) child(s *stream, parent, adjacent *shard, start, end HashKey) *shard {
	startCtr := max(counterAt(msTime(r.nowMs)), parent.last+1)
	adj := int64(-1)
	if adjacent != nil {
		startCtr = max(startCtr, adjacent.last+1)
		adj = int64(adjacent.m.Index)
	}
	sh := &shard{m: shardMeta{
		Index: s.meta.NextShard, Parent: int64(parent.m.Index), Adjacent: adj,
		Start: start.String(), End: end.String(), StartCounter: startCtr, CreatedMs: r.nowMs,
	}, start: start, end: end, last: startCtr}
	sh.visible.Store(startCtr)
	sh.in, sh.out = r.e.lim.newPair()
	s.meta.NextShard++
	s.shards = append(s.shards, sh)
	return sh
}

func (r *reshardTx) split(s *stream, sh *shard, newStart HashKey) {
	r.close(sh)
	r.child(s, sh, nil, sh.start, newStart.sub1())
	r.child(s, sh, nil, newStart, sh.end)
	s.rebuildOpen()
}

func (r *reshardTx) merge(s *stream, a, b *shard) {
	r.close(a)
	r.close(b)
	lo, hi := a.start, b.end
	if b.start.Cmp(a.start) < 0 {
		lo, hi = b.start, a.end
	}
	r.child(s, a, b, lo, hi)
	s.rebuildOpen()
}

func (e *Engine) openShard(s *stream, id string) (*shard, error) {
	sh := e.findShard(s, id)
	if sh == nil {
		return nil, newErr(ErrNotFound, fmt.Sprintf("Could not find shard %s in stream %s under account %s.", id, s.meta.Name, e.opts.AccountID))
	}
	if sh.m.Closed {
		return nil, newErr(ErrInvalidArgument, fmt.Sprintf("Shard %s in stream %s under account %s has already been merged or split, and thus is not eligible for merging or splitting.", id, s.meta.Name, e.opts.AccountID))
	}
	return sh, nil
}

// SplitShard splits open shard id of stream name at newStartingHashKey
// (decimal): the children hold [start, key-1] and [key, end].
func (e *Engine) SplitShard(name, id, newStartingHashKey string) error {
	return e.reshard(name, func(s *stream, r *reshardTx) error {
		sh, err := e.openShard(s, id)
		if err != nil {
			return err
		}
		k, ok := ParseHashKey(newStartingHashKey)
		if !ok || k.Cmp(sh.start) <= 0 || k.Cmp(sh.end) > 0 {
			return newErr(ErrInvalidArgument, fmt.Sprintf("NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.", newStartingHashKey, id, name, e.opts.AccountID, sh.start, sh.end))
		}
		r.split(s, sh, k)
		return nil
	})
}

// MergeShards merges open shard id with the open shard adjacentID whose
// hash key range is adjacent to it.
func (e *Engine) MergeShards(name, id, adjacentID string) error {
	return e.reshard(name, func(s *stream, r *reshardTx) error {
		a, err := e.openShard(s, id)
		if err != nil {
			return err
		}
		b, err := e.openShard(s, adjacentID)
		if err != nil {
			return err
		}
		if a == b || (!adjacent(a, b) && !adjacent(b, a)) {
			return newErr(ErrInvalidArgument, fmt.Sprintf("Shards %s and %s in stream %s under account %s are not an adjacent pair of shards eligible for merging", id, adjacentID, name, e.opts.AccountID))
		}
		r.merge(s, a, b)
		return nil
	})
}

// UpdateShardCount changes the number of open shards of stream name to
// target (UNIFORM_SCALING, between half and double the current count). It
// is done as splits (in half, the widest shard first) or merges (the
// narrowest adjacent pair first), so every new shard has exact lineage;
// from a uniform stream, doubling or halving stays uniform.
func (e *Engine) UpdateShardCount(name string, target int) (current int, err error) {
	err = e.reshard(name, func(s *stream, r *reshardTx) error {
		current = len(s.open)
		if target < 1 || target > 2*current || 2*target < current {
			return newErr(ErrInvalidArgument, fmt.Sprintf("UpdateShardCount target %d for stream %s under account %s must be between half and double the current open shard count %d.", target, name, e.opts.AccountID, current))
		}
		if target == current {
			return newErr(ErrInvalidArgument, fmt.Sprintf("Stream %s under account %s already has %d open shards.", name, e.opts.AccountID, current))
		}
		for len(s.open) < target {
			best := -1
			var bw *big.Int
			// Split original shards first, the widest first; children of
			// this call only when no original is left.
			for pass := 0; pass < 2 && best < 0; pass++ {
				for i, sh := range s.open {
					if pass == 0 && isChildOfThisTx(r, sh) {
						continue
					}
					if w := width(sh.start, sh.end); w.Sign() > 0 && (bw == nil || w.Cmp(bw) > 0) {
						best, bw = i, w
					}
				}
			}
			if best < 0 {
				return newErr(ErrInvalidArgument, "Shards are too narrow to split.")
			}
			sh := s.open[best]
			r.split(s, sh, midpoint(sh.start, sh.end))
		}
		for len(s.open) > target {
			best := -1
			var bw *big.Int
			// Merge pairs of original shards first, the narrowest first.
			for pass := 0; pass < 2 && best < 0; pass++ {
				for i := 0; i+1 < len(s.open); i++ {
					a, b := s.open[i], s.open[i+1]
					if pass == 0 && (isChildOfThisTx(r, a) || isChildOfThisTx(r, b)) {
						continue
					}
					if w := width(a.start, b.end); bw == nil || w.Cmp(bw) < 0 {
						best, bw = i, w
					}
				}
			}
			if best < 0 {
				return newErr(ErrInvalidArgument, "No adjacent shards to merge.")
			}
			r.merge(s, s.open[best], s.open[best+1])
		}
		return nil
	})
	return current, err
}

// isChildOfThisTx reports whether sh was created by the running reshard.
func isChildOfThisTx(r *reshardTx, sh *shard) bool {
	for _, o := range r.savedShards {
		if o == sh {
			return false
		}
	}
	return true
}

// adjacent reports whether b's range starts right after a's.
func adjacent(a, b *shard) bool { return a.end != maxHashKey() && a.end.add1() == b.start }
