// Package bitstream reads what ingest and storage need from the headers of
// VP8, VP9 and AV1 bitstreams: whether a frame is a keyframe, the picture size,
// the profile and bit depth, and the AV1 sequence header from which the
// AV1CodecConfigurationRecord (av1C) is built. It also puts AV1 OBUs, as
// RTP delivers them, into the form media.CodecAV1 frames carry.
//
// Everything here reads untrusted bytes from cameras and browsers: no
// function panics or allocates more than its input on any input (the fuzz
// tests hold that), and every error wraps ErrInvalid.
//
// Specifications: RFC 6386 section 9.1 (VP8 frame tag); VP9 Bitstream & Decoding Process Specification v0.6
// (section 6.2, uncompressed header); AV1 Bitstream & Decoding Process
// Specification (sections 5.3 OBU syntax, 5.5 sequence header, 5.9
// uncompressed header); AV1 Codec ISO Media File Format Binding (section
// 2.3, av1C), which the Matroska AV1 codec mapping uses as CodecPrivate.
//
// The package imports nothing of the application: a leaf, like the
// Matroska code.
package bitstream
