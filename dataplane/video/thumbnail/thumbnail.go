// Package thumbnail makes JPEG pictures of video frames with ffmpeg, for
// the timeline's hover pictures and the stream grid (and later KVS
// GetImages). The frame comes as a small Matroska file holding one
// keyframe (replay.Source.Keyframe); ffmpeg reads it from a pipe and
// writes the JPEG to another, so the plaintext frame never touches the
// disk. Pictures are cached in memory, bounded in bytes, by a key the
// caller chooses (stream, fragment, keyframe, width): a hover that comes
// back to a moment costs no decode. At most Concurrency decoders run at
// once (ffmpeg takes tens of MB and a core on a Pi); others wait their
// turn or their context.
package thumbnail

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// Errors of the package.
var (
	// ErrNoDecoder means ffmpeg is not installed (HTTP 501).
	ErrNoDecoder = errors.New("thumbnail: pictures need ffmpeg, which is not installed (Debian: apt install ffmpeg)")
	// ErrDecode means ffmpeg could not make a picture of the frame.
	ErrDecode = errors.New("thumbnail: the frame could not be decoded")
)

// Limits of a picture's width.
const (
	MinWidth = 16
	MaxWidth = 3840
)

// Maker makes and caches pictures. Set the fields, then use it from any
// goroutine; the zero value looks ffmpeg up in PATH, allows 10 s a
// picture, 2 decoders at once and caches 16 MiB.
type Maker struct {
	// FFmpeg is the ffmpeg binary; empty looks "ffmpeg" up in PATH.
	FFmpeg string
	// Timeout bounds one decode.
	Timeout time.Duration
	// Concurrency bounds the decoders running at once.
	Concurrency int
	// CacheBytes bounds the cached pictures.
	CacheBytes int64

	once   sync.Once
	bin    string
	binErr error
	slots  chan struct{}

	mu      sync.Mutex
	lru     *list.List // of *cached, most recent first
	byKey   map[string]*list.Element
	cached  int64
	hits    uint64
	decodes uint64
}

type cached struct {
	key  string
	jpeg []byte
}

func (m *Maker) init() {
	m.once.Do(func() {
		m.bin, m.binErr = exec.LookPath(cmp.Or(m.FFmpeg, "ffmpeg"))
		if m.binErr != nil {
			m.binErr = fmt.Errorf("%w (%v)", ErrNoDecoder, m.binErr)
		}
		if m.Timeout <= 0 {
			m.Timeout = 10 * time.Second
		}
		if m.Concurrency <= 0 {
			m.Concurrency = 2
		}
		if m.CacheBytes <= 0 {
			m.CacheBytes = 16 << 20
		}
		m.slots = make(chan struct{}, m.Concurrency)
		m.lru = list.New()
		m.byKey = map[string]*list.Element{}
	})
}

// Available reports whether pictures can be made (ffmpeg found), and why
// not.
func (m *Maker) Available() error {
	m.init()
	return m.binErr
}

// Cached returns the picture cached under key, if any.
func (m *Maker) Cached(key string) ([]byte, bool) {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byKey[key]; ok {
		m.lru.MoveToFront(e)
		m.hits++
		return e.Value.(*cached).jpeg, true
	}
	return nil, false
}

// Stats returns the cache hits and the decodes made.
func (m *Maker) Stats() (hits, decodes uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits, m.decodes
}

// JPEG returns the picture of the first video frame of frameMKV (a
// Matroska file), scaled to width pixels wide (0: its own width; the
// height keeps the aspect ratio), and caches it under key. The caller
// keeps frameMKV (plaintext) in memory and clears it afterwards.
func (m *Maker) JPEG(ctx context.Context, key string, frameMKV []byte, width int) ([]byte, error) {
	if width != 0 && (width < MinWidth || width > MaxWidth) {
		return nil, fmt.Errorf("thumbnail: width %d is not in [%d, %d]", width, MinWidth, MaxWidth)
	}
	return m.Picture(ctx, key, frameMKV, Options{Width: width})
}

// Options shape a picture made by Picture.
type Options struct {
	// Width and Height in pixels: 0 for both keeps the frame's size, one
	// of them 0 keeps the aspect ratio, both set stretch the picture to
	// them (KVS GetImages' WidthPixels and HeightPixels).
	Width, Height int
	// PNG makes a PNG instead of a JPEG.
	PNG bool
	// Quality of a JPEG, 1 (smallest) to 100 (best); 0 is the default
	// (ffmpeg -q:v 4, about 88).
	Quality int
}

// Picture is JPEG with options: the picture of the first video frame of
// frameMKV, cached under key.
func (m *Maker) Picture(ctx context.Context, key string, frameMKV []byte, o Options) ([]byte, error) {
	m.init()
	if m.binErr != nil {
		return nil, m.binErr
	}
	if o.Width < 0 || o.Height < 0 || o.Width > MaxWidth || o.Height > MaxWidth || o.Quality < 0 || o.Quality > 100 {
		return nil, fmt.Errorf("thumbnail: size %dx%d or quality %d out of range", o.Width, o.Height, o.Quality)
	}
	if b, ok := m.Cached(key); ok {
		return b, nil
	}
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-m.slots }()
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-f", "matroska", "-i", "pipe:0",
		"-map", "0:v:0", "-frames:v", "1"}
	switch {
	case o.Width != 0 && o.Height != 0:
		args = append(args, "-vf", "scale="+strconv.Itoa(o.Width)+":"+strconv.Itoa(o.Height))
	case o.Width != 0:
		args = append(args, "-vf", "scale="+strconv.Itoa(o.Width)+":-2")
	case o.Height != 0:
		args = append(args, "-vf", "scale=-2:"+strconv.Itoa(o.Height))
	}
	magic := []byte{0xFF, 0xD8}
	if o.PNG {
		args = append(args, "-f", "image2pipe", "-c:v", "png", "pipe:1")
		magic = []byte{0x89, 'P', 'N', 'G'}
	} else {
		q := 4
		if o.Quality > 0 {
			q = 31 - (o.Quality-1)*29/99 // 1 → 31 (worst), 100 → 2 (best)
		}
		args = append(args, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", strconv.Itoa(q), "pipe:1")
	}
	cmd := exec.CommandContext(ctx, m.bin, args...)
	cmd.Stdin = bytes.NewReader(frameMKV)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	m.mu.Lock()
	m.decodes++
	m.mu.Unlock()
	if ctx.Err() != nil && err != nil {
		return nil, fmt.Errorf("%w: ffmpeg did not finish within %v", ErrDecode, m.Timeout)
	}
	if err != nil || out.Len() < 4 || !bytes.HasPrefix(out.Bytes(), magic) {
		return nil, fmt.Errorf("%w: ffmpeg: %v: %s", ErrDecode, err, bytes.TrimSpace(stderr.Bytes()))
	}
	jpeg := bytes.Clone(out.Bytes())
	m.put(key, jpeg)
	return jpeg, nil
}

// Remember caches b under key with the pictures (the caller's small
// facts that spare it a decrypt, such as a fragment's keyframe times).
func (m *Maker) Remember(key string, b []byte) {
	m.init()
	m.put(key, b)
}

func (m *Maker) put(key string, jpeg []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byKey[key]; ok || int64(len(jpeg)) > m.CacheBytes {
		return
	}
	m.byKey[key] = m.lru.PushFront(&cached{key: key, jpeg: jpeg})
	m.cached += int64(len(jpeg))
	for m.cached > m.CacheBytes {
		e := m.lru.Back()
		c := e.Value.(*cached)
		m.lru.Remove(e)
		delete(m.byKey, c.key)
		m.cached -= int64(len(c.jpeg))
	}
}
