package mkv

// Element IDs, with their length-marker bits, from the Matroska
// specification (RFC 9559 section 5.1) and the EBML header elements of
// RFC 8794 section 11.2.
const (
	idEBML               = 0x1A45DFA3
	idEBMLVersion        = 0x4286
	idEBMLReadVersion    = 0x42F7
	idEBMLMaxIDLength    = 0x42F2
	idEBMLMaxSizeLength  = 0x42F3
	idDocType            = 0x4282
	idDocTypeVersion     = 0x4287
	idDocTypeReadVersion = 0x4285

	idVoid  = 0xEC
	idCRC32 = 0xBF

	idSegment = 0x18538067

	idSeekHead     = 0x114D9B74
	idSeek         = 0x4DBB
	idSeekID       = 0x53AB
	idSeekPosition = 0x53AC

	idInfo          = 0x1549A966
	idTimecodeScale = 0x2AD7B1
	idDuration      = 0x4489
	idDateUTC       = 0x4461
	idTitle         = 0x7BA9
	idMuxingApp     = 0x4D80
	idWritingApp    = 0x5741

	idTracks            = 0x1654AE6B
	idTrackEntry        = 0xAE
	idTrackNumber       = 0xD7
	idTrackUID          = 0x73C5
	idTrackType         = 0x83
	idFlagLacing        = 0x9C
	idDefaultDuration   = 0x23E383
	idName              = 0x536E
	idLanguage          = 0x22B59C
	idCodecID           = 0x86
	idCodecPrivate      = 0x63A2
	idCodecDelay        = 0x56AA
	idSeekPreRoll       = 0x56BB
	idVideo             = 0xE0
	idPixelWidth        = 0xB0
	idPixelHeight       = 0xBA
	idAudio             = 0xE1
	idSamplingFrequency = 0xB5
	idChannels          = 0x9F
	idBitDepth          = 0x6264
	idContentEncodings  = 0x6D80

	idCluster        = 0x1F43B675
	idTimecode       = 0xE7
	idSimpleBlock    = 0xA3
	idBlockGroup     = 0xA0
	idBlock          = 0xA1
	idBlockDuration  = 0x9B
	idReferenceBlock = 0xFB

	idCues               = 0x1C53BB6B
	idCuePoint           = 0xBB
	idCueTime            = 0xB3
	idCueTrackPositions  = 0xB7
	idCueTrack           = 0xF7
	idCueClusterPosition = 0xF1
	idChapters           = 0x1043A770
	idAttachments        = 0x1941A469

	idTags            = 0x1254C367
	idTag             = 0x7373
	idTargets         = 0x63C0
	idTargetTypeValue = 0x68CA
	idSimpleTag       = 0x67C8
	idTagName         = 0x45A3
	idTagString       = 0x4487
)

// isSegmentChild reports whether id is a top-level element (EBML header,
// Segment) or a direct child of Segment. Such an ID ends an unknown-size
// Cluster (RFC 8794 section 6.2: an unknown-size element ends at the first
// element that is not a valid descendant).
func isSegmentChild(id uint32) bool {
	switch id {
	case idEBML, idSegment, idSeekHead, idInfo, idTracks, idCluster,
		idCues, idChapters, idAttachments, idTags:
		return true
	}
	return false
}
