package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Source is the appliance's data streams, read by delivery streams of
// type KinesisStreamAsSource (cmd/kinedge adapts the Kinesis engine).
type Source interface {
	// Shards returns the shards of data stream name.
	Shards(name string) ([]SourceShard, error)
	// Read returns up to limit records of a shard after sequence number
	// after ("": from the shard's start, TRIM_HORIZON).
	Read(name, shard, after string, limit int) (SourceBatch, error)
	// Latest returns the position at the shard's end now, to read after.
	Latest(name, shard string) (string, error)
	// Changed returns a channel closed at the next put to any stream.
	Changed() <-chan struct{}
}

// SourceShard is a shard of a data stream.
type SourceShard struct {
	ID      string
	Parents []string
}

// SourceBatch is what one Read returns.
type SourceBatch struct {
	Records []SourceRecord
	// Next is the position reached, to read after next time.
	Next string
	// End: the shard is closed and read to its end.
	End bool
}

// SourceRecord is a record of a data stream.
type SourceRecord struct {
	Seq  string
	Data []byte
}

// Starting positions of a KinesisStreamAsSource delivery stream.
const (
	TrimHorizon = "TRIM_HORIZON"
	Latest      = "LATEST"
)

// KinesisSource is a delivery stream's source: a data stream of the
// appliance.
type KinesisSource struct {
	StreamARN string `json:"streamArn"`
	RoleARN   string `json:"roleArn,omitempty"`
	// StartingPosition is TrimHorizon or Latest (the default, as AWS).
	StartingPosition string `json:"startingPosition"`
}

var reKinesisARN = regexp.MustCompile(`^arn:aws[a-z-]*:kinesis:[a-z0-9-]*:[0-9]*:stream/([a-zA-Z0-9_.-]{1,128})$`)

// Stream returns the data stream's name.
func (k *KinesisSource) Stream() string {
	m := reKinesisARN.FindStringSubmatch(k.StreamARN)
	if m == nil {
		return ""
	}
	return m[1]
}

// checkpoint is how far a shard was read: f/c/<stream>/<shard>, written
// in the transaction of the records it covers.
type checkpoint struct {
	After string `json:"after,omitempty"`
	Done  bool   `json:"done,omitempty"`
}

const keyCheckpoint = "c/"

func (e *Engine) checkpointKey(name, shard string) []byte {
	return e.sp.Key([]byte(keyCheckpoint), []byte(name), []byte("/"), []byte(shard))
}

// CreateFromSource defines a KinesisStreamAsSource delivery stream: it
// reads data stream src.Stream() from TrimHorizon or Latest (each shard's
// position now, stored at create) into its spool, with a durable
// checkpoint per shard committed with the records it covers, so a
// restart neither loses nor repeats a record.
func (e *Engine) CreateFromSource(ctx context.Context, name string, src KinesisSource, dest S3Destination, tags map[string]string) (Stream, error) {
	if e.opts.Source == nil {
		return Stream{}, errorf(ErrInvalidArgument, "This appliance has no data streams to read (no Source).")
	}
	ks := src.Stream()
	if ks == "" {
		return Stream{}, errorf(ErrInvalidArgument, "KinesisStreamARN %s is not a data stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>).", src.StreamARN)
	}
	switch src.StartingPosition {
	case "":
		src.StartingPosition = Latest
	case Latest, TrimHorizon:
	default:
		return Stream{}, errorf(ErrInvalidArgument, "StartingPosition %s is not TRIM_HORIZON or LATEST.", src.StartingPosition)
	}
	shards, err := e.opts.Source.Shards(ks)
	if err != nil {
		return Stream{}, errorf(ErrInvalidArgument, "Kinesis stream %s cannot be read: %v", ks, err)
	}
	starts := map[string]string{}
	if src.StartingPosition == Latest {
		for _, sh := range shards {
			p, err := e.opts.Source.Latest(ks, sh.ID)
			if err != nil {
				return Stream{}, fmt.Errorf("firehose: create %s: %w", name, err)
			}
			starts[sh.ID] = p
		}
	}
	return e.create(ctx, name, dest, tags, &src, func(txn *store.Txn) error {
		for _, sh := range shards {
			cp := checkpoint{After: starts[sh.ID]} // "" from the start
			b, err := json.Marshal(cp)
			if err != nil {
				return err
			}
			if err := txn.Set(e.checkpointKey(name, sh.ID), b); err != nil {
				return err
			}
		}
		return nil
	})
}

// sourceBatch is how many records a reader takes at once.
const sourceBatch = 500

// read is the source reader's goroutine: it reads every shard whose
// parents are done, after its checkpoint, into the spool.
func (d *deliverer) read() {
	defer close(d.readerDone)
	e := d.e
	ks := d.source.Stream()
	attempt := 0
	for {
		changed := e.opts.Source.Changed()
		progressed, err := d.readOnce(ks)
		switch {
		case err != nil:
			if errors.Is(err, store.ErrClosed) {
				return
			}
			e.log.Warn("firehose: reading the source failed; retrying", "stream", d.name, "source", ks, "err", err)
			if !d.sleepOr(Backoff(e.opts.RetryMin, e.opts.RetryMax, attempt), nil) {
				return
			}
			attempt++
		case progressed:
			attempt = 0
		default:
			attempt = 0
			if !d.sleepOr(time.Minute, changed) {
				return
			}
		}
	}
}

// sleepOr waits d, or until ch is closed; false on stop.
func (d *deliverer) sleepOr(wait time.Duration, ch <-chan struct{}) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-d.stop:
		return false
	case <-t.C:
	case <-ch:
	}
	return true
}

// readOnce reads each shard that is ready once; progressed tells whether
// a record or a shard's end was committed.
func (d *deliverer) readOnce(ks string) (progressed bool, err error) {
	e := d.e
	shards, err := e.opts.Source.Shards(ks)
	if err != nil {
		return false, err
	}
	cps := map[string]checkpoint{}
	err = e.sp.View(func(txn *store.Txn) error {
		return iterate(txn, e.sp.Key([]byte(keyCheckpoint), []byte(d.name), []byte("/")), true, func(k, v []byte) error {
			var cp checkpoint
			if err := json.Unmarshal(v, &cp); err != nil {
				return err
			}
			cps[string(k[len(e.checkpointKey(d.name, "")):])] = cp
			return nil
		})
	})
	if err != nil {
		return false, err
	}
	known := map[string]bool{}
	for _, sh := range shards {
		known[sh.ID] = true
	}
	for _, sh := range shards {
		select {
		case <-d.stop:
			return progressed, nil
		default:
		}
		cp := cps[sh.ID]
		if cp.Done {
			continue
		}
		ready := true
		for _, p := range sh.Parents {
			if p != "" && known[p] && !cps[p].Done {
				ready = false // a parent's records come first
			}
		}
		if !ready {
			continue
		}
		b, err := e.opts.Source.Read(ks, sh.ID, cp.After, sourceBatch)
		if err != nil {
			return progressed, err
		}
		next := checkpoint{After: b.Next, Done: b.End}
		if next.After == "" && len(b.Records) > 0 {
			next.After = b.Records[len(b.Records)-1].Seq
		}
		if len(b.Records) == 0 && !b.End {
			continue
		}
		if err := d.putSource(sh.ID, b, next); err != nil {
			return progressed, err
		}
		progressed = true
	}
	return progressed, nil
}

// putSource commits the records of b with the shard's checkpoint (the
// checkpoint of each transaction covers its records).
func (d *deliverer) putSource(shard string, b SourceBatch, next checkpoint) error {
	e := d.e
	key := e.checkpointKey(d.name, shard)
	set := func(txn *store.Txn, cp checkpoint) error {
		v, err := json.Marshal(cp)
		if err != nil {
			return err
		}
		return txn.Set(key, v)
	}
	if len(b.Records) == 0 {
		return e.sp.Update(context.Background(), store.Meta, func(txn *store.Txn) error { return set(txn, next) })
	}
	data := make([][]byte, len(b.Records))
	for i, r := range b.Records {
		data[i] = r.Data
	}
	_, err := d.putWith(context.Background(), data, func(txn *store.Txn, last int) error {
		if last == len(data)-1 {
			return set(txn, next)
		}
		return set(txn, checkpoint{After: b.Records[last].Seq})
	})
	return err
}

// deleteCheckpoints deletes the checkpoints of stream name in txn.
func (e *Engine) deleteCheckpoints(txn *store.Txn, name string) error {
	var keys [][]byte
	err := iterate(txn, e.sp.Key([]byte(keyCheckpoint), []byte(name), []byte("/")), false, func(k, _ []byte) error {
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := txn.Delete(k); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
	}
	return nil
}
