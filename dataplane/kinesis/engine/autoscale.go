package engine

import (
	"errors"
	"fmt"
)

// On-demand scaling.
//
// Kinesis scales ON_DEMAND streams by itself. kinedge splits the hot shards
// of ON_DEMAND streams: at every autoscaling pass (with the retention pass,
// every TrimInterval) a shard that took more than half of its per-shard
// write limit (Limits.RecordsPerSecond, Limits.BytesInPerSecond, whether
// or not limits are enforced) since the previous pass is split in two
// halves, within Options.MaxShards. kinedge does not merge shards back.

// hotFraction is the part of the per-shard write limit above which an
// on-demand shard is split.
const hotFraction = 0.5

// Autoscale runs one on-demand scaling pass now and returns the shards it
// split. The trimmer goroutine calls it every TrimInterval; tests call it
// directly.
func (e *Engine) Autoscale() ([]string, error) {
	type hot struct{ stream, shard string }
	var hots []hot
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	now := e.now()
	for _, s := range e.byName {
		if s.meta.Mode != ModeOnDemand {
			continue
		}
		elapsed := now.Sub(s.scaledAt).Seconds()
		if s.scaledAt.IsZero() || elapsed <= 0 {
			s.scaledAt = now
			for _, sh := range s.open {
				sh.winRecords, sh.winBytes = 0, 0
			}
			continue
		}
		s.scaledAt = now
		for _, sh := range s.open {
			rec := float64(sh.winRecords) / elapsed
			byt := float64(sh.winBytes) / elapsed
			sh.winRecords, sh.winBytes = 0, 0
			if rec > hotFraction*float64(e.opts.Limits.RecordsPerSecond) || byt > hotFraction*float64(e.opts.Limits.BytesInPerSecond) {
				hots = append(hots, hot{s.meta.Name, sh.id()})
			}
		}
	}
	e.mu.Unlock()
	var split []string
	var errs []error
	for _, h := range hots {
		err := e.reshard(h.stream, func(s *stream, r *reshardTx) error {
			sh, err := e.openShard(s, h.shard)
			if err != nil {
				return err
			}
			if sh.start == sh.end {
				return nil // a single hash key cannot be split
			}
			r.split(s, sh, midpoint(sh.start, sh.end))
			return nil
		})
		switch {
		case err == nil:
			split = append(split, h.stream+"/"+h.shard)
			e.log.Info("on-demand stream scaled up", "stream", h.stream, "shard", h.shard)
		case errors.Is(err, ErrLimitExceeded), errors.Is(err, ErrNotFound):
			// At the account's shard limit, or the stream went away.
		default:
			errs = append(errs, fmt.Errorf("kinesis: autoscale %s %s: %w", h.stream, h.shard, err))
		}
	}
	return split, errors.Join(errs...)
}
