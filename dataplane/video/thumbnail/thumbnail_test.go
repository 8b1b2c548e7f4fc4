package thumbnail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestCacheBound keeps the cache under CacheBytes, dropping the least
// recently used first.
func TestCacheBound(t *testing.T) {
	m := &Maker{CacheBytes: 1000, FFmpeg: "/nonexistent/ffmpeg"}
	for i := range 10 {
		m.Remember(fmt.Sprint(i), bytes.Repeat([]byte{byte(i)}, 300))
		if i == 2 {
			m.Cached("0") // 0 is now more recent than 1 and 2
		}
	}
	if m.cached > m.CacheBytes {
		t.Fatalf("%d bytes cached over a bound of %d", m.cached, m.CacheBytes)
	}
	for _, k := range []string{"7", "8", "9"} {
		if _, ok := m.Cached(k); !ok {
			t.Fatalf("the recent entry %s was dropped", k)
		}
	}
	if _, ok := m.Cached("1"); ok {
		t.Fatal("an old entry stayed")
	}
	m.Remember("huge", make([]byte, 2000)) // larger than the cache: not kept
	if _, ok := m.Cached("huge"); ok || m.cached > m.CacheBytes {
		t.Fatalf("an entry over the bound was kept (%d bytes)", m.cached)
	}
	if _, err := m.JPEG(context.Background(), "k", []byte("x"), 0); !errors.Is(err, ErrNoDecoder) {
		t.Fatalf("JPEG without ffmpeg: %v", err)
	}
}
