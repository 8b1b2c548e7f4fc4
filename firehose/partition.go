package firehose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/google/uuid"

	"github.com/kinedge/kinedge/index/store"
)

// Dynamic partitioning: a batch of a stream with
// DynamicPartitioningConfiguration enabled is written as one object per
// distinct partition of its records (the values of the partition keys
// its Prefix uses), plus one partitioning-failed object under the error
// prefix for the records whose keys cannot be extracted. fix evaluates
// the query over the batch's records and stores every object key in the
// batch before the first attempt; deliver evaluates it again (the same
// records, the same query: the same partitions) and writes each
// partition's records to its fixed key, so a retry or a restart
// overwrites the same objects and never adds one.

// maxPartitions bounds the partitions (objects) of one batch: fix ends
// the batch before the record that would open one more (AWS's default
// quota of active partitions is 500).
const maxPartitions = 500

// partWriters is how many objects of a partitioned batch are written at
// once.
const partWriters = 4

// codePartitioningFailed is the errorCode of a record whose keys could
// not be extracted (AWS's).
const codePartitioningFailed = "DynamicPartitioning.MetadataExtractionFailed"

// batchPart is one object of a partitioned batch: its partition (the
// partition keys' values, as a JSON array in the query's key order) and
// its key.
type batchPart struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// partitionFailed is a record of a partitioning-failed object, one JSON
// object a line, as AWS writes them.
type partitionFailed struct {
	AttemptsMade           int    `json:"attemptsMade"`
	ArrivalTimestamp       int64  `json:"arrivalTimestamp"`
	ErrorCode              string `json:"errorCode"`
	ErrorMessage           string `json:"errorMessage"`
	AttemptEndingTimestamp int64  `json:"attemptEndingTimestamp"`
	RawData                []byte `json:"rawData"`
}

// partitioner classifies the records of a stream's batch.
type partitioner struct {
	s    *Stream
	q    *jqQuery // nil: the Prefix uses no query key
	used []expr   // the partition keys the Prefix uses, in its order, once each
	b    *batch
}

func newPartitioner(s *Stream, b *batch) (*partitioner, error) {
	p, _ := checkPrefixes(s.Destination.Prefix, s.Destination.ErrorOutputPrefix) // checked at create
	pt := &partitioner{s: s, b: b}
	seen := map[expr]bool{}
	for _, e := range p.ok {
		if (e.ns == nsQuery || e.ns == nsLambda) && !seen[e] {
			seen[e] = true
			pt.used = append(pt.used, e)
		}
	}
	if hasExpr(p.ok, nsQuery, "") {
		if pt.q = s.Destination.Processing.metadataQuery(); pt.q == nil {
			return nil, fmt.Errorf("stream %s uses query partition keys and has no MetadataExtraction query", s.Name)
		}
	}
	return pt, nil
}

// classify returns a record's partition id and keys, or why it failed
// (deterministic: fix and deliver agree). lambda are the partition keys
// the Lambda processor returned for the record.
func (pt *partitioner) classify(v []byte, lambda map[string]string) (id string, keys map[string]string, fail string) {
	var got map[string]string
	if pt.q != nil {
		var err error
		if got, err = pt.q.eval(v); err != nil {
			return "", nil, err.Error()
		}
	}
	vals := make([]string, len(pt.used))
	keys = make(map[string]string, len(pt.used))
	for i, u := range pt.used {
		val := got[u.value] // eval returns every key of the query
		if u.ns == nsLambda {
			var ok bool
			if val, ok = lambda[u.value]; !ok {
				return "", nil, fmt.Sprintf("the transformation returned no partition key %s (metadata.partitionKeys)", u.value)
			}
		}
		vals[i] = val
		keys[u.ns+":"+u.value] = val
	}
	if n := len(pt.s.prefix(pt.b.Arrival, "", keys)); n > maxEvaluatedPrefix {
		return "", nil, fmt.Sprintf("the evaluated prefix is %d bytes, more than %d", n, maxEvaluatedPrefix)
	}
	idb, _ := json.Marshal(vals)
	return string(idb), keys, ""
}

// partition fixes the objects of batch b (its range fixed, Arrival set):
// one key per distinct partition of its records and the
// partitioning-failed key if any fails. A batch whose records open more
// than maxPartitions partitions ends before the first record of the one
// too many. With a Lambda processor the partitions are known only once
// the records are transformed: the batch gets PartBase, and each
// partition's object the key whose uuid is derived from PartBase and the
// partition (the same across retries and restarts, as long as the
// endpoint answers the same), and the partitioning-failed key.
func (d *deliverer) partition(s Stream, b *batch) error {
	b.Partitioned = true
	if s.Destination.Processing.lambda() != nil {
		b.PartBase = uuid.NewString()
		b.PartErrKey = s.ErrorObjectKey(b.Arrival, uuid.NewString(), ErrorPartitioningFailed)
		return nil
	}
	pt, err := newPartitioner(&s, b)
	if err != nil {
		return err
	}
	ids := map[string]int32{}
	var parts []batchPart
	var classes []int32
	var partBytes []int64
	var records, size int64
	last, failed := b.From, false
	err = d.scan(s, b, func(seq uint64, n int64, v []byte) (bool, error) {
		id, keys, fail := pt.classify(v, nil)
		class, seen := ids[id]
		switch {
		case fail != "":
			failed, class = true, -1
		case !seen:
			if len(parts) == maxPartitions {
				return false, nil
			}
			class = int32(len(parts))
			ids[id] = class
			parts = append(parts, batchPart{ID: id, Key: s.keyWith(b.Arrival, uuid.NewString(), "", keys)})
			partBytes = append(partBytes, 0)
		}
		if class >= 0 {
			partBytes[class] += int64(len(v))
		}
		classes = append(classes, class)
		records++
		size += n
		last = seq
		return true, nil
	})
	if err != nil {
		return err
	}
	b.To, b.Records, b.Bytes = last, records, size
	b.Parts = parts
	// deliver, in this process, takes the classes rather than evaluating
	// the query again (after a restart it evaluates it).
	d.cache = &batchCache{from: b.From, to: b.To, classes: classes, partBytes: partBytes}
	if failed {
		b.PartErrKey = s.ErrorObjectKey(b.Arrival, uuid.NewString(), ErrorPartitioningFailed)
	}
	return nil
}

// scan calls fn with the seq, stored size and plaintext of the records
// of b in order, until fn returns false.
func (d *deliverer) scan(s Stream, b *batch, fn func(seq uint64, size int64, v []byte) (bool, error)) error {
	e := d.e
	return e.sp.View(func(txn *store.Txn) error {
		it := e.recordIter(txn, s.Name, b.From)
		defer it.Close()
		for ; it.Valid(); it.Next() {
			item := it.Item()
			seq := seqOf(item.Key())
			if seq > b.To {
				return nil
			}
			more := true
			err := item.Value(func(v []byte) error {
				v, err := d.open(s, seq, v)
				if err != nil {
					return err
				}
				more, err = fn(seq, item.ValueSize(), v)
				return err
			})
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
		}
		return nil
	})
}

// writePartitioned writes the objects of partitioned batch b: the
// records of each partition, in order, to its key, and the failed ones
// to PartErrKey (and, with a Lambda processor, ErrKey). The records are
// read once and held uncompressed, grouped by partition (at most the
// batch's size), and each object is compressed and written in turn.
func (d *deliverer) writePartitioned(s Stream, b *batch, delim []byte) error {
	e := d.e
	if e.opts.Destination == nil {
		return fmt.Errorf("no S3 endpoint configured")
	}
	pt, err := newPartitioner(&s, b)
	if err != nil {
		return err
	}
	parts := slices.Clone(b.Parts)
	index := make(map[string]int, len(parts))
	for i, p := range parts {
		index[p.ID] = i
	}
	bufs := make([]*bytes.Buffer, len(parts))
	for i := range bufs {
		bufs[i] = &bytes.Buffer{}
	}
	var errRaw bytes.Buffer
	errJSON := json.NewEncoder(&errRaw)
	var records, raw, failed int64
	now := e.opts.Now().UnixMilli()
	add := func(v []byte, lambda map[string]string) error {
		id, keys, fail := pt.classify(v, lambda)
		if fail != "" {
			if b.PartErrKey == "" {
				return fmt.Errorf("a record of batch %s fails partitioning (%s) and the batch has no error key", b.Key, fail)
			}
			failed++
			return errJSON.Encode(&partitionFailed{AttemptsMade: 1, ArrivalTimestamp: b.Arrival.UnixMilli(),
				ErrorCode: codePartitioningFailed, ErrorMessage: fail, AttemptEndingTimestamp: now, RawData: v})
		}
		i, ok := index[id]
		if !ok {
			if b.PartBase == "" {
				return fmt.Errorf("a record of batch %s has partition %s, which the batch does not have", b.Key, id)
			}
			base, err := uuid.Parse(b.PartBase)
			if err != nil {
				return fmt.Errorf("batch %s: PartBase: %w", b.Key, err)
			}
			i = len(parts)
			index[id] = i
			parts = append(parts, batchPart{ID: id, Key: s.keyWith(b.Arrival, uuid.NewSHA1(base, []byte(id)).String(), "", keys)})
			bufs = append(bufs, &bytes.Buffer{})
		}
		bufs[i].Write(v)
		bufs[i].Write(delim)
		records++
		raw += int64(len(v))
		return nil
	}
	var procFailed []byte // the processing-failed object's records, with a Lambda processor
	if lc := s.Destination.Processing.lambda(); lc != nil {
		out, err := d.transformPartitioned(s, b, lc)
		if err != nil {
			return err
		}
		for i, v := range out.ok {
			if err := add(v, out.okKeys[i]); err != nil {
				return err
			}
		}
		if len(out.failed) > 0 {
			var buf bytes.Buffer
			jw := json.NewEncoder(&buf)
			for i := range out.failed {
				if err := jw.Encode(&out.failed[i]); err != nil {
					return err
				}
			}
			procFailed = buf.Bytes()
		}
	} else if c := d.cache; c != nil && c.from == b.From && c.to == b.To && int64(len(c.classes)) == b.Records {
		for i, n := range c.partBytes {
			bufs[i].Grow(int(n) + len(delim)*int(b.Records/int64(len(bufs))+1))
		}
		i := 0
		err = d.scan(s, b, func(_ uint64, _ int64, v []byte) (bool, error) {
			class := c.classes[i]
			i++
			if class < 0 {
				return true, add(v, nil) // evaluated again for its message
			}
			bufs[class].Write(v)
			bufs[class].Write(delim)
			records++
			raw += int64(len(v))
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("firehose: read batch of %s: %w", s.Name, err)
		}
	} else {
		err = d.scan(s, b, func(_ uint64, _ int64, v []byte) (bool, error) { return true, add(v, nil) })
		if err != nil {
			return fmt.Errorf("firehose: read batch of %s: %w", s.Name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// put compresses and writes one object; a failure is noted on the
	// batch (RetryFor) once, by the caller.
	put := func(key string, data []byte) error {
		var buf bytes.Buffer
		buf.Grow(len(data)/3 + 4096) // telemetry compresses to a third or less; grows if not
		enc, err := encoder(s.Destination.Compression, s.Name, &buf)
		if err != nil {
			return err
		}
		if _, err := io.Copy(enc, bytes.NewReader(data)); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		if err := e.opts.Destination.Put(ctx, s.Destination.Bucket(), key, buf.Bytes()); err != nil {
			e.stats.uploadFails.Add(1)
			return err
		}
		e.stats.objects.Add(1)
		return nil
	}
	type object struct {
		key  string
		data *[]byte
	}
	var objects []object
	if procFailed != nil {
		if b.ErrKey == "" {
			return fmt.Errorf("firehose: batch %s of %s has no error key", b.Key, s.Name)
		}
		objects = append(objects, object{b.ErrKey, &procFailed})
	}
	errBytes := errRaw.Bytes()
	if failed > 0 {
		objects = append(objects, object{b.PartErrKey, &errBytes})
	}
	partBytes := make([][]byte, len(parts))
	for i, p := range parts {
		partBytes[i] = bufs[i].Bytes()
		objects = append(objects, object{p.Key, &partBytes[i]})
	}
	// partWriters objects are compressed and written at once: a batch is
	// many small objects, and one PUT's latency, not bandwidth, bounds
	// writing them one by one.
	work := make(chan object)
	errs := make(chan error, partWriters)
	var wg sync.WaitGroup
	for range min(partWriters, len(objects)) {
		wg.Go(func() {
			var first error
			for o := range work {
				if first != nil {
					continue
				}
				if first = put(o.key, *o.data); first == nil {
					*o.data = nil // written: let it go
				}
			}
			errs <- first
		})
	}
	for _, o := range objects {
		work <- o
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			if ferr := d.uploadFailed(s, b); ferr != nil {
				return fmt.Errorf("%w (%w)", err, ferr)
			}
			return err
		}
	}
	d.cache = nil
	e.stats.recordsDelivered.Add(uint64(records))
	e.stats.bytesDelivered.Add(uint64(raw))
	e.stats.partitioningFailed.Add(uint64(failed))
	e.log.Debug("firehose: partitioned batch written", "stream", s.Name, "objects", len(parts), "records", records, "failed", failed)
	return nil
}

// transformPartitioned runs b's records through the Lambda processor lc
// once per batch (kept while its writes are retried, as transformBatch).
func (d *deliverer) transformPartitioned(s Stream, b *batch, lc *lambdaConf) (*transformed, error) {
	if c := d.cache; c != nil && c.from == b.From && c.to == b.To && c.part != nil {
		return c.part, nil
	}
	var recs []spoolRecord
	err := d.scan(s, b, func(seq uint64, _ int64, v []byte) (bool, error) {
		recs = append(recs, spoolRecord{seq: seq, data: bytes.Clone(v)})
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("firehose: read batch of %s: %w", s.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	out, err := d.transform(ctx, s, lc, recs, b.Arrival)
	if err != nil {
		return nil, err
	}
	d.e.stats.processingFailed.Add(uint64(len(out.failed)))
	d.e.stats.dropped.Add(uint64(len(recs) - len(out.ok) - len(out.failed)))
	d.cache = &batchCache{from: b.From, to: b.To, part: out}
	return out, nil
}
