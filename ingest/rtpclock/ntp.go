package rtpclock

import "time"

// ntpUnixOffset is the number of seconds from 1900-01-01 (the NTP era 0
// epoch) to 1970-01-01.
const ntpUnixOffset = 2208988800

// NTPTime converts a 64-bit NTP timestamp (RFC 5905 §6: seconds since
// 1900 in the high 32 bits, a binary fraction of a second in the low 32
// bits) to a time, rounded to the nanosecond. Era 0 only: 1900 to 2036.
func NTPTime(v uint64) time.Time {
	secs := int64(v>>32) - ntpUnixOffset
	frac := int64(((v&0xffffffff)*1e9 + 1<<31) >> 32) // rounded to the nanosecond
	return time.Unix(secs, frac).UTC()
}

// NTPTimestamp converts a time to a 64-bit NTP timestamp, rounding the
// fraction to the nearest 2^-32 s: NTPTime(NTPTimestamp(t)) is t to the
// nanosecond for times from 1970 to 2036.
func NTPTimestamp(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpUnixOffset)
	frac := (uint64(t.Nanosecond())<<32 + 5e8) / 1e9
	if frac > 0xffffffff { // a nanosecond short of the next second
		frac = 0xffffffff
	}
	return secs<<32 | frac
}

// ntpTimeNanos reads a timestamp written with the fraction as
// nanoseconds (gortsplib up to v4.16).
func ntpTimeNanos(v uint64) time.Time {
	secs := int64(v>>32) - ntpUnixOffset
	return time.Unix(secs, 0).Add(time.Duration(v & 0xffffffff)).UTC()
}
