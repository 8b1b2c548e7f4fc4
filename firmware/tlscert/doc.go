// Package tlscert gives the appliance its TLS certificate: the operator's
// (a PEM certificate chain and key file), or a self-signed one generated on
// the first start and reused after.
//
// Decisions (docs/tls.md has the reasoning):
//
//   - Self-signed, not ACME: an appliance on a shop's LAN has no public
//     name a certificate authority could check and often no route from the
//     internet; clients pin the certificate instead (curl --cacert, the
//     AWS SDKs' and CLI's CA bundle, ffmpeg -ca_file).
//   - ECDSA P-256: small, fast on a Pi's Cortex-A cores, accepted by every
//     TLS stack the clients use (Go, OpenSSL, GnuTLS, browsers).
//   - The certificate names (SANs) are fixed at generation: the host name,
//     the listen IPs (every interface address for a wildcard listen),
//     localhost, 127.0.0.1, ::1 and the operator's extra names. It is its
//     own issuer (a CA certificate with path length 0), so the file itself
//     is the trust anchor a client loads.
//   - Valid ten years: rotation is deliberate — delete the two files and
//     restart to get a new key and certificate (and pin the new one).
//   - Written with firmware/atomicfile: the key (0600) before the
//     certificate (0644), so a power cut leaves no certificate without its
//     key; a key without a certificate is replaced by a new pair.
//   - The fingerprint is the SHA-256 of the certificate's DER bytes in
//     OpenSSL's notation (AB:CD:…, what `openssl x509 -fingerprint
//     -sha256` prints), and the public-key pin is curl's
//     sha256//<base64 of the SHA-256 of the SubjectPublicKeyInfo>.
package tlscert
