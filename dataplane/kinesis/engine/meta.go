package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
)

// Stream modes (Kinesis StreamModeDetails.StreamMode).
const (
	// ModeProvisioned streams have the shard count asked for.
	ModeProvisioned = "PROVISIONED"
	// ModeOnDemand streams start with 4 shards (kinedge does not rescale
	// them by itself).
	ModeOnDemand = "ON_DEMAND"
)

// Stream statuses (Kinesis StreamStatus). kinedge applies changes at once,
// so streams are always ACTIVE; the others exist for the wire shapes.
const (
	StatusActive   = "ACTIVE"
	StatusCreating = "CREATING"
	StatusDeleting = "DELETING"
	StatusUpdating = "UPDATING"
)

// Encryption types (Kinesis EncryptionType).
const (
	// EncryptionNone: records are stored as put.
	EncryptionNone = "NONE"
	// EncryptionKMS: records are sealed by Options.Sealer.
	EncryptionKMS = "KMS"
)

// Retention bounds in hours (IncreaseStreamRetentionPeriod API reference).
const (
	DefaultRetentionHours = 24
	MinRetentionHours     = 24
	MaxRetentionHours     = 8760
)

// onDemandShards is the number of shards an ON_DEMAND stream gets: AWS
// starts on-demand streams at 4 MiB/s of write capacity. kinedge does not
// rescale them automatically.
const onDemandShards = 4

// Key layout under Options.Prefix:
//
//	s/<stream name>                                  → streamMeta (JSON)
//	r/<stream id 8B><shard index 4B><counter 8B>     → record (see encodeRecord)
//	x/<stream id 8B>                                 → records of a deleted stream still to erase
//	k                                                → iterator secret
//	n                                                → next stream id (8B)
const (
	keyMeta    = "s/"
	keyRecord  = "r/"
	keyDeleted = "x/"
	keySecret  = "k"
	keyNextID  = "n"
)

// streamMeta is the one persistent record describing a stream.
type streamMeta struct {
	ID         uint64            `json:"id"`
	Name       string            `json:"name"`
	Status     string            `json:"status"`
	Mode       string            `json:"mode"`
	CreatedMs  int64             `json:"created"`
	Retention  int               `json:"retentionHours"`
	Encryption string            `json:"encryption"`
	KeyID      string            `json:"keyId,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	NextShard  uint32            `json:"nextShard"`
	Shards     []shardMeta       `json:"shards"`
	Consumers  []consumerMeta    `json:"consumers,omitempty"`
	Metrics    []string          `json:"metrics,omitempty"`
}

// shardMeta is one shard in streamMeta.
type shardMeta struct {
	Index        uint32 `json:"i"`
	Parent       int64  `json:"p"` // -1: none
	Adjacent     int64  `json:"a"` // -1: none
	Start        string `json:"s"`
	End          string `json:"e"`
	StartCounter uint64 `json:"sc"`
	Closed       bool   `json:"c,omitempty"`
	EndCounter   uint64 `json:"ec,omitempty"`
	CreatedMs    int64  `json:"t"`
	ClosedMs     int64  `json:"ct,omitempty"`
}

// consumerMeta is a registered enhanced fan-out consumer.
type consumerMeta struct {
	Name      string `json:"n"`
	ARN       string `json:"arn"`
	CreatedMs int64  `json:"t"`
}

// stream is the in-memory state of a stream. Fields are guarded by
// Engine.mu except where noted.
type stream struct {
	meta    streamMeta // Shards/Consumers are rebuilt from shards on save
	shards  []*shard   // by index order
	open    []*shard   // open shards sorted by starting hash key
	deleted bool
	// scaledAt is when the autoscaler last measured the stream.
	scaledAt time.Time
}

// shard is the in-memory state of a shard.
type shard struct {
	m     shardMeta
	start HashKey
	end   HashKey
	// last is the last counter assigned. The writer changes it while
	// holding Engine.mu for reading (it is the only one doing so); others
	// read it holding Engine.mu for writing.
	last uint64
	// visible is the last counter whose record is committed and synced.
	visible atomic.Uint64
	in      *bucketPair
	out     *bucketPair
	// winRecords and winBytes count the records put since the last
	// autoscaling pass; like last, only the writer adds to them.
	winRecords, winBytes uint64
}

func (s *shard) id() string { return shardID(s.m.Index) }

func shardID(i uint32) string { return fmt.Sprintf("shardId-%012d", i) }

// parseShardID returns the index of "shardId-000000000003". Kinesis also
// accepts the bare number suffix forms; kinedge only issues the full one.
func parseShardID(s string) (uint32, bool) {
	const p = "shardId-"
	if len(s) != len(p)+12 || s[:len(p)] != p {
		return 0, false
	}
	var n uint64
	for i := len(p); i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}

func (s *stream) shardByIndex(i uint32) *shard {
	// shards are sorted by index; binary search.
	lo, hi := 0, len(s.shards)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case s.shards[m].m.Index == i:
			return s.shards[m]
		case s.shards[m].m.Index < i:
			lo = m + 1
		default:
			hi = m
		}
	}
	return nil
}

// route returns the open shard whose range holds h. Open shards always
// cover the whole hash key space.
func (s *stream) route(h HashKey) *shard {
	lo, hi := 0, len(s.open)
	for lo < hi {
		m := (lo + hi) / 2
		if s.open[m].end.Cmp(h) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(s.open) {
		return nil
	}
	return s.open[lo]
}

// rebuildOpen recomputes s.open from s.shards.
func (s *stream) rebuildOpen() {
	s.open = s.open[:0]
	for _, sh := range s.shards {
		if !sh.m.Closed {
			s.open = append(s.open, sh)
		}
	}
	sortShardsByStart(s.open)
}

func sortShardsByStart(v []*shard) {
	for i := 1; i < len(v); i++ { // insertion sort: few shards
		for j := i; j > 0 && v[j].start.Cmp(v[j-1].start) < 0; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// encodeMeta serialises s's metadata.
func (s *stream) encodeMeta() ([]byte, error) {
	m := s.meta
	m.Shards = make([]shardMeta, len(s.shards))
	for i, sh := range s.shards {
		m.Shards[i] = sh.m
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("kinesis: encode metadata: %w", err)
	}
	return b, nil
}

func decodeMeta(b []byte) (streamMeta, error) {
	var m streamMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: stream metadata: %v", ErrCorrupt, err)
	}
	return m, nil
}

func newShard(m shardMeta, lim *limiters) (*shard, error) {
	start, ok1 := ParseHashKey(m.Start)
	end, ok2 := ParseHashKey(m.End)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: shard %d hash range", ErrCorrupt, m.Index)
	}
	sh := &shard{m: m, start: start, end: end}
	sh.in, sh.out = lim.newPair()
	return sh, nil
}

// recordKey returns the key of a record.
func (e *Engine) recordKey(dst []byte, streamID uint64, shard uint32, counter uint64) []byte {
	dst = append(dst, e.prefix...)
	dst = append(dst, keyRecord...)
	dst = binary.BigEndian.AppendUint64(dst, streamID)
	dst = binary.BigEndian.AppendUint32(dst, shard)
	return binary.BigEndian.AppendUint64(dst, counter)
}

// shardPrefix returns the key prefix of a shard's records.
func (e *Engine) shardPrefix(streamID uint64, shard uint32) []byte {
	k := e.recordKey(nil, streamID, shard, 0)
	return k[:len(k)-8]
}

// streamRecordsPrefix returns the key prefix of all records of a stream.
func (e *Engine) streamRecordsPrefix(streamID uint64) []byte {
	k := e.recordKey(nil, streamID, 0, 0)
	return k[:len(k)-12]
}

// Record value layout: flags 1B | uvarint partition key length |
// partition key | data. Flag bit 0: the stream had encryption on at put
// time (EncryptionType KMS); bit 1: data is sealed by Options.Sealer;
// bit 2: the seal is bound to the record's position (sealedName and the
// counter). Records sealed before bit 2 existed are bound to their stream
// only (sealStream and 0) and still open.
const (
	flagKMS    = 1
	flagSealed = 2
	flagBound  = 4
)

func encodeRecord(dst []byte, pk string, data []byte, flags byte) []byte {
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(pk)))
	dst = append(dst, pk...)
	return append(dst, data...)
}

func decodeRecord(b []byte) (pk string, data []byte, flags byte, err error) {
	if len(b) < 2 {
		return "", nil, 0, fmt.Errorf("%w: short record", ErrCorrupt)
	}
	flags = b[0]
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > uint64(len(b)-1-w) {
		return "", nil, 0, fmt.Errorf("%w: record partition key", ErrCorrupt)
	}
	off := 1 + w
	pk = string(b[off : off+int(n)])
	return pk, b[off+int(n):], flags, nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
