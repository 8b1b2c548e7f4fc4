// Package authz is kinedge's users and permissions: who may do what on
// which streams, for every surface (the AWS JSON APIs, KVS, the /v1 API and
// the page, RTSP, WHIP, /metrics). It decides; the surfaces ask it and
// answer refusals in their own peer's terms (AccessDeniedException, 403).
//
// A User has a name, an access key id, a secret and Grants: an Action
// (admin, publish, read, put-records, get-records, firehose) on a
// stream-name pattern (path.Match globs: "cam*", "*"). admin implies every
// other action on the streams it covers; actions that name no stream
// (control operations, users, config) are checked against the stream "",
// which only "*" matches.
//
// Design decisions:
//
//   - Secrets are needed in clear by the verifiers (SigV4 re-signs the
//     request, RTSP Digest hashes the password with a nonce), so they cannot
//     be hashed: they are stored SEALED. The whole user table is one blob
//     sealed by the Sealer given to Open — kinedge passes its
//     fragment/seal Keyring (AES-256-GCM under a data key wrapped by the
//     master key), under the alias "kinedge/users". No crypto here.
//   - The alias "kinedge/users" rotates like any alias; its data keys are
//     never tied to a stream, and crypto-shredding leaves them alone: video
//     streams seal under "video/<alias>" (index.SealAlias) and a stream
//     name cannot hold a '/'. The current table names the key that opens
//     it.
//   - The table lives in one file of the data dir (users.sealed), replaced
//     atomically (firmware/atomicfile) on every change, not in Badger: the
//     running server is its only writer (the CLI goes through the admin
//     API, as Badger's lock requires anyway), holds it in memory and sees
//     its own changes at once; a file is also readable by tools while the
//     server runs.
//   - Built-in users (the configured admin key pair: admin on "*"; the
//     publish user/pass: publish on "*") are given to Open, never stored,
//     and cannot be removed or rotated through the API: they keep working
//     as they always did, from the config.
//   - Secrets never leave through List or String/LogValue; Add and Rotate
//     return them once.
package authz
