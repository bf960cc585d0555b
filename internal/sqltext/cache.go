package sqltext

import "sync"

// maxCachedQuery is the length of the longest query a cache keeps: longer
// ones are computed on every use, so a cache holds at most
// size*maxCachedQuery bytes of query text.
const maxCachedQuery = 16 << 10

// Cache is a bounded, concurrency-safe cache of what is derived from a
// statement text: its rewrite, its classification. It keeps two generations
// of at most size/2 entries each: when the current one is full it becomes
// the old one and the previous old one is dropped; a hit in the old
// generation is copied to the current one. A hit costs one map look-up
// under a read lock and no allocation.
type Cache[V any] struct {
	compute func(query string) V
	gen     int // entries per generation

	mu       sync.RWMutex // guards following
	cur, old map[string]V
}

// NewCache returns a cache of at most size entries (at least 2) that
// fills itself with compute.
func NewCache[V any](size int, compute func(string) V) *Cache[V] {
	gen := max(size/2, 1)
	return &Cache[V]{compute: compute, gen: gen, cur: make(map[string]V, gen)}
}

// Get returns the value for query, from the cache when it is there.
func (c *Cache[V]) Get(query string) V {
	c.mu.RLock()
	v, ok := c.cur[query]
	promote := false
	if !ok {
		v, promote = c.old[query]
	}
	c.mu.RUnlock()
	switch {
	case ok:
		return v
	case promote:
		c.put(query, v)
		return v
	}
	v = c.compute(query)
	if len(query) <= maxCachedQuery {
		c.put(query, v)
	}
	return v
}

// put stores v in the current generation, starting a new one when it is full.
func (c *Cache[V]) put(query string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= c.gen {
		c.old, c.cur = c.cur, make(map[string]V, c.gen)
	}
	c.cur[query] = v
}
