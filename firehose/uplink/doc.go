// Package uplink schedules uploads on a thin or metered uplink: daily
// upload windows and a bandwidth cap. It is a leaf (it imports nothing
// of the app), shared by the S3 archive (firehose/archive) and the
// upstream forwarder (dataplane/video/upstream); each of them owns its
// own Windows and Limiter (a cap is per archive, per upstream).
//
// # Windows
//
// A Window is "HH:MM-HH:MM" in the clock's time zone (local time in the
// appliance); End before Start spans midnight ("22:00-06:00"). Windows is
// a list of them, open when any is ("22:00-06:00,12:00-13:00"); the empty
// list is always open. Wait says how long until the next opening, so a
// caller sleeps on its own goroutine (a context ends the wait).
//
// # Bandwidth cap
//
// Limiter is a token bucket of Rate bytes/s holding at most Burst bytes.
// An upload of n bytes waits until the bucket is not in debt, then takes
// n tokens, possibly into debt: an upload larger than the bucket (a
// fragment, a manifest) is never refused, it is paid for by the waits
// after it. So over any stretch the bytes average the Rate plus at most
// Burst plus one upload. With Burst 0 uploads are spaced by the time
// their bytes take at the Rate (the archive's spacing). The clock and the
// sleep are injected (tests record the waits instead of sleeping).
package uplink
