// Package sdnotify implements the client side of systemd's service
// notification protocol (sd_notify(3)): datagrams of newline-separated
// KEY=VALUE assignments sent to the AF_UNIX socket named by $NOTIFY_SOCKET,
// and the service watchdog interval from $WATCHDOG_USEC (and $WATCHDOG_PID).
// It imports nothing of the application.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// States the appliance sends (sd_notify(3)).
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// ErrNoSocket is returned by Notify when the process was not started by
// systemd with notification (no $NOTIFY_SOCKET). Callers treat it as
// "nothing to do".
var ErrNoSocket = errors.New("sdnotify: NOTIFY_SOCKET not set")

// Notifier sends notifications. Getenv reads the environment; it defaults
// to returning "" for everything, so a zero Notifier does nothing.
type Notifier struct {
	Getenv func(string) string
}

func (n Notifier) getenv(k string) string {
	if n.Getenv == nil {
		return ""
	}
	return n.Getenv(k)
}

// Notify sends the newline-separated states in one datagram.
func (n Notifier) Notify(states ...string) error {
	path := n.getenv("NOTIFY_SOCKET")
	if path == "" {
		return ErrNoSocket
	}
	if strings.HasPrefix(path, "@") { // abstract socket namespace
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(states, "\n"))); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// WatchdogInterval returns the service watchdog timeout systemd expects
// pings within, or 0 when the watchdog is off or meant for another process
// ($WATCHDOG_PID names a different pid than pid).
func (n Notifier) WatchdogInterval(pid int) (time.Duration, error) {
	s := n.getenv("WATCHDOG_USEC")
	if s == "" {
		return 0, nil
	}
	if p := n.getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return 0, nil
	}
	usec, err := strconv.ParseUint(s, 10, 63)
	if err != nil || usec == 0 {
		return 0, fmt.Errorf("sdnotify: bad WATCHDOG_USEC %q", s)
	}
	return time.Duration(usec) * time.Microsecond, nil
}
