package archive

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Cache.
const (
	DefaultCacheTTL      = 10 * time.Second
	DefaultCacheMaxBytes = 16 << 20
)

// Cache is a Reader in front of a bucket that keeps what tiered replay
// reads again and again: the manifests (their existence check and their
// bodies) and the listings of the hour directories of the archive under
// Root. Fragment objects and every other key pass through uncached.
//
// Each entry remembers how far its stream was settled when it was read
// (SettledThrough: the archiver writes no object and no manifest of that
// stream before it again). An entry is final for a read that needs
// nothing at or after that time: a manifest of an hour that ends by then,
// a listing of a year, month or day that ends by then, or any listing
// read by DirsBefore for a range that ends before then (the stream's
// list of years, say, for a range of the past). Final entries never
// expire. Any other read (the hour being filled, an archive the local
// archiver is behind on or does not write, the list of streams) is served
// from an entry younger than TTL. Entries are evicted least recently used
// first to keep their bytes within MaxBytes.
type Cache struct {
	// Reader is the bucket (S3Bucket; its Dirs is used when it has one).
	Reader Reader
	// Root is the appliance's root, Root(prefix, appliance id, "").
	Root string
	// SettledThrough returns the time before which the archiver will not
	// change stream's keys (Archiver.SettledThrough); nil, or the zero
	// time: nothing is final.
	SettledThrough func(stream string) time.Time
	// TTL of entries that are not final (DefaultCacheTTL when zero);
	// MaxBytes bounds the entries' bytes (DefaultCacheMaxBytes when zero).
	TTL      time.Duration
	MaxBytes int64
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recent first
	byKey map[string]*list.Element
	bytes int64

	hits, misses, evictions atomic.Uint64
}

// CacheStats are a Cache's counters.
type CacheStats struct {
	Hits, Misses, Evictions uint64
	Entries                 int
	Bytes                   int64
}

type cacheEntry struct {
	key     string
	names   []string
	body    []byte
	horizon time.Time // the stream's SettledThrough before the read
	expires time.Time
	size    int64
}

// Stats returns the counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	if c.lru != nil {
		n = c.lru.Len()
	}
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(), Entries: n, Bytes: c.bytes}
}

// List returns the keys under prefix; a manifest's key (an existence
// check) is cached.
func (c *Cache) List(ctx context.Context, prefix string) ([]string, error) {
	if !strings.HasSuffix(prefix, "/manifest.json") {
		return c.Reader.List(ctx, prefix)
	}
	e, err := c.get(ctx, "L"+prefix, prefix, time.Time{}, func() (*cacheEntry, error) {
		names, err := c.Reader.List(ctx, prefix)
		return &cacheEntry{names: names}, err
	})
	if err != nil {
		return nil, err
	}
	return e.names, nil
}

// Get reads key; a manifest is cached. The caller must not modify the
// bytes returned.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	if !strings.HasSuffix(key, "/manifest.json") {
		return c.Reader.Get(ctx, key)
	}
	e, err := c.get(ctx, "G"+key, key, time.Time{}, func() (*cacheEntry, error) {
		body, err := c.Reader.Get(ctx, key)
		return &cacheEntry{body: body}, err
	})
	if err != nil {
		return nil, err
	}
	return e.body, nil
}

// Dirs returns one level of keys under prefix (S3Bucket.Dirs; derived
// from List when the Reader has none); the levels of the archive under
// Root are cached.
func (c *Cache) Dirs(ctx context.Context, prefix string) ([]string, error) {
	return c.DirsBefore(ctx, prefix, time.Time{})
}

// DirsBefore is Dirs for a caller that needs only the entries for times
// before end (zero: all): the walk of the hour directories of a range
// (Remote.ManifestHours) passes the range's end, so that a listing of the
// past is final even at a level that goes on into the present.
func (c *Cache) DirsBefore(ctx context.Context, prefix string, end time.Time) ([]string, error) {
	e, err := c.get(ctx, "D"+prefix, prefix, end, func() (*cacheEntry, error) {
		names, err := c.dirs(ctx, prefix)
		return &cacheEntry{names: names}, err
	})
	if err != nil {
		return nil, err
	}
	return e.names, nil
}

func (c *Cache) dirs(ctx context.Context, prefix string) ([]string, error) {
	if d, ok := c.Reader.(dirLister); ok {
		return d.Dirs(ctx, prefix)
	}
	all, err := c.Reader.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range all {
		if i := strings.Index(k[len(prefix):], "/"); i >= 0 {
			k = k[:len(prefix)+i+1]
		}
		if len(out) == 0 || out[len(out)-1] != k {
			out = append(out, k)
		}
	}
	return out, nil
}

// period returns the stream and the end of the period a cached key
// covers: the hour of a manifest, the year, month or day of a listing
// (zero for the root and a stream's root: open-ended). ok is false for
// keys outside Root, which are not cached.
func (c *Cache) period(key string) (stream string, end time.Time, ok bool) {
	rel, ok := strings.CutPrefix(key, c.Root)
	if !ok {
		return "", time.Time{}, false
	}
	stream, rest, found := strings.Cut(rel, "/")
	if !found {
		return "", time.Time{}, rel == ""
	}
	if rest == "" {
		return stream, time.Time{}, true
	}
	if h, ok := strings.CutSuffix(rest, "/manifest.json"); ok {
		t, err := time.Parse(hourLevels[3], h)
		if err != nil {
			return "", time.Time{}, false
		}
		return stream, t.Add(time.Hour), true
	}
	dir, ok := strings.CutSuffix(rest, "/")
	if !ok {
		return "", time.Time{}, false
	}
	for lvl, layout := range hourLevels[:3] {
		if t, err := time.Parse(layout, dir); err == nil && len(dir) == len(layout) {
			return stream, [3]time.Time{t.AddDate(1, 0, 0), t.AddDate(0, 1, 0), t.AddDate(0, 0, 1)}[lvl], true
		}
	}
	return "", time.Time{}, false
}

func (c *Cache) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// get returns the entry of ck (for key), fetching it on a miss. The read
// needs the entries for times before the end of key's period and before
// before (zero: no such bound); an entry is final for it when that end
// is known (not open-ended) and at most the entry's horizon, which is read
// before the fetch.
func (c *Cache) get(ctx context.Context, ck, key string, before time.Time, fetch func() (*cacheEntry, error)) (*cacheEntry, error) {
	stream, need, ok := c.period(key)
	if !ok {
		return fetch()
	}
	if !before.IsZero() && (need.IsZero() || before.Before(need)) {
		need = before
	}
	now := c.now()
	c.mu.Lock()
	if el, ok := c.byKey[ck]; ok {
		e := el.Value.(*cacheEntry)
		if (!need.IsZero() && !e.horizon.IsZero() && !need.After(e.horizon)) || now.Before(e.expires) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			c.hits.Add(1)
			return e, nil
		}
		c.remove(el)
	}
	c.mu.Unlock()
	c.misses.Add(1)
	var horizon time.Time
	if stream != "" && c.SettledThrough != nil {
		horizon = c.SettledThrough(stream)
	}
	e, err := fetch()
	if err != nil {
		return nil, err
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	e.key, e.horizon, e.expires = ck, horizon, now.Add(ttl)
	e.size = int64(len(ck) + len(e.body) + 64)
	for _, n := range e.names {
		e.size += int64(len(n) + 16)
	}
	c.put(e)
	return e, nil
}

func (c *Cache) put(e *cacheEntry) {
	max := c.MaxBytes
	if max <= 0 {
		max = DefaultCacheMaxBytes
	}
	if e.size > max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru == nil {
		c.lru, c.byKey = list.New(), map[string]*list.Element{}
	}
	if el, ok := c.byKey[e.key]; ok {
		c.remove(el)
	}
	c.byKey[e.key] = c.lru.PushFront(e)
	c.bytes += e.size
	for c.bytes > max {
		c.remove(c.lru.Back())
		c.evictions.Add(1)
	}
}

func (c *Cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.byKey, e.key)
	c.bytes -= e.size
}
