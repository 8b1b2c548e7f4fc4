// Package authlimit brakes password guessing: it counts failed
// authentications per source address and, after MaxFailures of them
// within Window, refuses that address's further attempts for a backoff
// that doubles with every lockout (1 s, 2 s, 4 s, … up to MaxBackoff)
// without checking their credentials. It is a leaf: the web guard, the
// SigV4 middleware, the RTSP server and the WHIP handler each call it
// at their own decision point, and answer a refusal in their peer's
// terms (HTTP 429 with Retry-After, an AWS throttling error, RTSP 503
// with Retry-After).
//
// Design decisions:
//
//   - The unit is the source address: an IPv4 address, or an IPv6 /64
//     (one host usually owns a whole /64, so counting single IPv6
//     addresses would let it rotate through 2^64 of them). The
//     X-Forwarded-For of a request is not trusted: anyone can set it.
//   - Per-address state only, so the right client is never locked out
//     by the failures of another address; a success clears its address.
//   - After a lockout ends the address is one failure from the next,
//     longer, lockout: at the cap a guesser gets one try per MaxBackoff.
//     An address quiet for Window after its lockout ended starts afresh.
//   - Memory is bounded: at most MaxAddresses addresses are tracked; the
//     least recently seen one is dropped to make room (an attacker who
//     floods addresses only forgets their own oldest failures).
//   - A lockout is logged once, at WARN, when it starts; the refused
//     attempts during it are counted, not logged, so a flood cannot fill
//     the log.
//   - The clock and the logger are injected; a nil *Limiter admits
//     everything, so callers need no nil checks.
package authlimit
