package camsim

import (
	"container/heap"
	"context"
	"time"
)

// paceOne paces a single camera with its own timer (PacingPerCamera).
func paceOne(ctx context.Context, cfg *Config, c *camera) {
	defer c.cancel()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next, ok := c.sendDue(cfg.Now(), cfg.SendAhead)
		if !ok {
			return
		}
		t.Reset(next.Sub(cfg.Now()))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// paceShared paces every camera from one goroutine (PacingShared): a heap of
// cameras ordered by their next due time; each wake-up serves every camera
// whose next frame is due within SendAhead.
func paceShared(ctx context.Context, cfg *Config, cams []*camera) {
	defer func() {
		for _, c := range cams {
			c.cancel()
		}
	}()
	h := make(dueHeap, 0, len(cams))
	for _, c := range cams {
		if d, ok := c.due(); ok {
			h = append(h, dueItem{c: c, at: d})
		} else {
			c.cancel()
		}
	}
	heap.Init(&h)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for len(h) > 0 {
		if wait := h[0].at.Sub(cfg.Now()); wait > cfg.SendAhead {
			t.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		now := cfg.Now()
		until := now.Add(cfg.SendAhead)
		for len(h) > 0 && !h[0].at.After(until) {
			c := h[0].c
			next, ok := c.sendDue(now, cfg.SendAhead)
			if !ok {
				c.cancel()
				heap.Pop(&h)
				continue
			}
			h[0].at = next
			heap.Fix(&h, 0)
		}
	}
}

type dueItem struct {
	c  *camera
	at time.Time
}

// dueHeap is a min-heap of cameras by next due time (container/heap).
type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
