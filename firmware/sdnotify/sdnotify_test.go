package sdnotify

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNotifySendsOneDatagram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n := Notifier{Getenv: env(map[string]string{"NOTIFY_SOCKET": path})}
	if err := n.Notify(Ready, "STATUS=serving 3 cameras"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	k, err := ln.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:k]); got != "READY=1\nSTATUS=serving 3 cameras" {
		t.Fatalf("datagram %q", got)
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	if err := (Notifier{}).Notify(Ready); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("got %v", err)
	}
	n := Notifier{Getenv: env(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "absent")})}
	if err := n.Notify(Ready); err == nil || errors.Is(err, ErrNoSocket) {
		t.Fatalf("missing socket file: %v", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want time.Duration
		ok   bool
	}{
		{map[string]string{}, 0, true},
		{map[string]string{"WATCHDOG_USEC": "30000000"}, 30 * time.Second, true},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 30 * time.Second, true},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 0, true},
		{map[string]string{"WATCHDOG_USEC": "soon"}, 0, false},
		{map[string]string{"WATCHDOG_USEC": "0"}, 0, false},
	}
	for _, c := range cases {
		got, err := Notifier{Getenv: env(c.env)}.WatchdogInterval(42)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("%v: %v, %v", c.env, got, err)
		}
	}
}
