// Package rtc is the pion/webrtc setup the appliance's WebRTC endpoints
// share: WHEP live view (dataplane/video/whep) and WHIP ingest
// (ingest/webrtc). It is a leaf: it imports pion, nothing of the app.
//
//   - One UDP port for every peer connection (pion's ICE UDP mux), so a
//     firewall needs one rule: webrtc_udp, default :8189. Host candidates
//     are the addresses of the machine's interfaces on that port; loopback
//     ones only when asked (tests). No STUN or TURN by default: the
//     appliance and its viewers share a LAN. The socket's receive buffer
//     is enlarged to 4 MiB (udpReadBuffer): the default 208 KiB overflowed
//     with 32 WHIP cameras' keyframes arriving together. The kernel caps
//     it at net.core.rmem_max (Debian's default is 208 KiB too): the .deb
//     raises it to 4 MiB (/usr/lib/sysctl.d/60-kinedge.conf).
//   - ICE-TCP, when Config.TCPAddress is set (webrtc_tcp): one TCP port,
//     pion's ICE TCP mux, passive TCP host candidates beside the UDP ones:
//     the fallback for a peer whose UDP is blocked. ICE prefers UDP pairs
//     when both connect.
//   - A 1:1 NAT in front of the appliance: Config.PublicIPs
//     (webrtc_public_ips) replace the host candidates' addresses (pion's
//     ICEAddressRewriteRules, the successor of SetNAT1To1IPs). They must
//     be IP addresses; Listen refuses anything else.
//   - mDNS is off: browsers hide their own host addresses behind .local
//     names, which the appliance does not resolve; their connectivity
//     checks reach it anyway and ICE learns their address from them
//     (peer-reflexive candidates). The appliance's answer carries its own
//     addresses in the clear.
//   - Interceptors: NACK (a sender keeps the last packets to resend them;
//     a receiver asks for lost ones, at most 3 times each: pion's
//     generator does not see repairs that come on an RTX stream) and RTCP sender/receiver reports.
//     Receivers' PLIs reach the sender's RTCP reader; what to do with them
//     is the endpoint's decision (WHEP cannot ask a camera for a keyframe).
//   - ParseSDPFrag reads the trickle-ICE SDP fragments of a WHIP/WHEP
//     PATCH (RFC 8840, RFC 9725 §4.3); ICESession serves the PATCH:
//     If-Match against the ETag, trickled candidates added to the peer
//     connection, and ICE restart (§4.4, restart.go): new credentials in
//     the fragment re-apply the peer's description as an offer with
//     them, pion restarts its agent (new local credentials, gathering on
//     the same mux ports), the answer's ICE lines go back as the 200's
//     fragment and the ETag changes. DTLS, the tracks and the recording
//     go on; PATCHes of a session are served one at a time.
//   - The HTTP both endpoints share (http.go): CORS headers, the
//     OPTIONS preflight, bounded bodies of one content type, errors as
//     JSON {"message": …}, session ids.
package rtc
