package index

import (
	"context"
	"testing"
	"time"
)

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestStored(t *testing.T) {
	x := openT(t, Options{InMemory: true})
	ctx := context.Background()
	mustStream(t, x, "cam1", 1)
	mustStream(t, x, "cam2", 1)
	c1, c2 := x.Stored("cam1"), x.Stored("cam2")
	if c1 == c2 || x.Stored("cam1") != c1 {
		t.Fatal("Stored: want one channel per stream, shared by its waiters")
	}
	if isClosed(c1) || isClosed(c2) {
		t.Fatal("Stored: closed before any fragment")
	}
	mustPut(t, x, "cam1", time.Now(), time.Now(), 100)
	select {
	case <-c1:
	case <-time.After(10 * time.Second):
		t.Fatal("Stored(cam1) not closed by a cam1 fragment")
	}
	if isClosed(c2) {
		t.Fatal("Stored(cam2) closed by a cam1 fragment")
	}
	if next := x.Stored("cam1"); next == c1 || isClosed(next) {
		t.Fatal("Stored(cam1) after the broadcast: want a new open channel")
	}
	if err := x.DeleteStream(ctx, "cam2"); err != nil {
		t.Fatal(err)
	}
	if !isClosed(c2) {
		t.Fatal("Stored(cam2) not closed by DeleteStream")
	}
	c3 := x.Stored("cam1")
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if !isClosed(c3) || !isClosed(x.Stored("cam1")) {
		t.Fatal("Stored: not closed by Close")
	}
}
