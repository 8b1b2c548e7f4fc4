package clock

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Boot is one reading of the kernel's clock since boot, with the boot it
// belongs to.
//
// Why it matters: a process's monotonic clock starts again at each start
// of the process, but the kernel's CLOCK_BOOTTIME keeps counting across
// restarts of the appliance (a crash, an update, a systemd restart) until
// the board reboots. Two runs of the appliance in one boot therefore know
// how far apart they started even when neither knew the wall time, and a
// run that learns the time can place the earlier ones (docs/clock.md).
// The boot id tells whether the earlier run was in the same boot: after a
// power cut the boot clock starts again from zero.
type Boot struct {
	// ID names the boot: the kernel's random boot id
	// (/proc/sys/kernel/random/boot_id), new at every boot.
	ID string
	// Since is the kernel's CLOCK_BOOTTIME: the time since the boot,
	// counting suspend.
	Since time.Duration
}

// BootIDPath is where Linux gives the boot id.
const BootIDPath = "/proc/sys/kernel/random/boot_id"

// ErrBootID is the error of a boot id that is not one.
var ErrBootID = errors.New("clock: malformed boot id")

// KernelBoot reads the boot id from BootIDPath and CLOCK_BOOTTIME.
func KernelBoot() (Boot, error) {
	b, err := os.ReadFile(BootIDPath)
	if err != nil {
		return Boot{}, fmt.Errorf("clock: boot id: %w", err)
	}
	id, err := ParseBootID(b)
	if err != nil {
		return Boot{}, fmt.Errorf("%s: %w", BootIDPath, err)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return Boot{}, fmt.Errorf("clock: CLOCK_BOOTTIME: %w", err)
	}
	return Boot{ID: id, Since: time.Duration(ts.Nano())}, nil
}

// ParseBootID reads the content of BootIDPath: a UUID in its 36-character
// text form (RFC 9562, section 4), lower-case hex, and a newline. It
// returns the UUID, or an error wrapping ErrBootID.
func ParseBootID(b []byte) (string, error) {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if len(b) != 36 {
		return "", fmt.Errorf("%w: %d characters, want 36 (a UUID)", ErrBootID, len(b))
	}
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", fmt.Errorf("%w: %q at %d, want '-'", ErrBootID, c, i)
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return "", fmt.Errorf("%w: %q at %d, want a lower-case hex digit", ErrBootID, c, i)
			}
		}
	}
	return string(b), nil
}
