package index

import "sync"

// storedSignal is the broadcast behind Stored: per stream name, a channel
// that is closed (and forgotten) when the stream gets a fragment, is
// deleted, or the index closes. It holds one channel per stream that has
// a waiter, so it is bounded by the number of streams.
type storedSignal struct {
	mu     sync.Mutex
	ch     map[string]chan struct{}
	closed bool
}

// wait returns the channel the next broadcast for stream closes.
func (s *storedSignal) wait(stream string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if s.ch == nil {
		s.ch = make(map[string]chan struct{})
	}
	ch, ok := s.ch[stream]
	if !ok {
		ch = make(chan struct{})
		s.ch[stream] = ch
	}
	return ch
}

// broadcast wakes every waiter of stream.
func (s *storedSignal) broadcast(stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.ch[stream]; ok {
		close(ch)
		delete(s.ch, stream)
	}
}

// closeAll wakes every waiter, for good.
func (s *storedSignal) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for k, ch := range s.ch {
		close(ch)
		delete(s.ch, k)
	}
}

// Stored returns a channel that is closed when the next fragment of
// stream is stored (PutFragment returned), when the stream is deleted, or
// when the index closes. It is the live edge's event for readers that
// follow a stream (KVS GetMedia): take the channel, read what the index
// holds, and wait on the channel only if that read found nothing new, so
// that no fragment stored in between is missed. A channel is only a
// wake-up: it says nothing of which fragment came.
func (x *Index) Stored(stream string) <-chan struct{} {
	return x.stored.wait(stream)
}
