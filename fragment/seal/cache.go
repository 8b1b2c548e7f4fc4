package seal

import (
	"container/list"
	"sync"
)

// keyCache is a bounded LRU of unwrapped data keys by id, so opening old
// fragments does not unwrap their key every time and memory stays bounded
// however many keys the store holds.
type keyCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *dataKey, most recently used first
	byID  map[string]*list.Element
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, order: list.New(), byID: make(map[string]*list.Element)}
}

// get returns the cached key or nil.
func (c *keyCache) get(id string) *dataKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*dataKey)
}

// add inserts dk, evicting the least recently used key beyond the bound.
func (c *keyCache) add(dk *dataKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[dk.id]; ok {
		e.Value = dk
		c.order.MoveToFront(e)
		return
	}
	c.byID[dk.id] = c.order.PushFront(dk)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byID, last.Value.(*dataKey).id)
	}
}

// remove drops id from the cache.
func (c *keyCache) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		c.order.Remove(e)
		delete(c.byID, id)
	}
}
