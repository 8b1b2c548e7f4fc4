package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Space is a package's handle on its key prefix of the database: its
// writes are checked against the prefix, wait out prefix drops, and pass
// the budget's admission control. Reads see the whole database.
type Space struct {
	db     *DB
	prefix []byte
	// written counts the bytes committed through the space since Open.
	written atomic.Int64
}

// Prefix returns the space's key prefix (do not modify it).
func (s *Space) Prefix() []byte { return s.prefix }

// DB returns the database the space belongs to.
func (s *Space) DB() *DB { return s.db }

// Key returns the space's prefix followed by parts.
func (s *Space) Key(parts ...[]byte) []byte {
	n := len(s.prefix)
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	k = append(k, s.prefix...)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// maxConflictRetries bounds the retries of a conflicting transaction.
const maxConflictRetries = 10

// View runs fn in a read-only transaction.
func (s *Space) View(fn func(txn *Txn) error) error {
	leave, err := s.db.enter()
	if err != nil {
		return err
	}
	defer leave()
	return s.db.bdb.View(func(txn *badger.Txn) error {
		return fn(&Txn{txn: txn, prefix: s.prefix})
	})
}

// Update runs fn in a read-write transaction and commits it (durably,
// unless the DB was opened with NoSync). It waits while a prefix drop is
// in progress, retries fn (up to 10 times) when the transaction conflicts
// with another, and refuses class writes the budget does not admit
// (ErrFull) or a read-only database does not take (ErrReadOnly). fn must
// not call into the store (a drop waiting for the gate would deadlock).
func (s *Space) Update(ctx context.Context, class Class, fn func(txn *Txn) error) error {
	var err error
	for range maxConflictRetries {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		var leave func()
		leave, err = s.db.enterWrite(class)
		if err != nil {
			return err
		}
		t := &Txn{txn: s.db.bdb.NewTransaction(true), prefix: s.prefix}
		err = fn(t)
		if err == nil {
			err = t.txn.Commit()
		}
		t.txn.Discard()
		leave()
		if err == nil {
			s.written.Add(t.written)
			s.db.budget.wrote(t.written)
		}
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// Begin starts a read-write transaction that the caller commits with
// CommitWith (asynchronously, for group commit) or abandons with Discard;
// one of them must be called, soon: until then prefix drops wait. The
// same admission control as Update applies.
func (s *Space) Begin(class Class) (*Txn, error) {
	leave, err := s.db.enterWrite(class)
	if err != nil {
		return nil, err
	}
	return &Txn{txn: s.db.bdb.NewTransaction(true), prefix: s.prefix, leave: leave, sp: s}, nil
}

// DropPrefix deletes every key under each prefix (all inside the space),
// with Badger's DropPrefix: the tables holding them are compacted at once,
// so value-log GC can then reclaim their values. Writes wait meanwhile.
// It returns how long writes were held. A drop flushes the memtables into
// new tables, which Badger writes through memory maps: on a disk without
// room for them (see dropFloor) it is refused with ErrFull rather than
// risk a SIGBUS, after releasing the reserve if that makes the room.
func (s *Space) DropPrefix(ctx context.Context, prefixes ...[]byte) (time.Duration, error) {
	for _, p := range prefixes {
		if !bytes.HasPrefix(p, s.prefix) {
			return 0, fmt.Errorf("%w: drop %q in space %q", ErrOutsidePrefix, p, s.prefix)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	leave, err := s.db.enter()
	if err != nil {
		return 0, err
	}
	defer leave()
	if s.db.readOnly {
		return 0, ErrReadOnly
	}
	s.db.gate.Lock()
	if err := s.db.budget.roomToDrop(); err != nil {
		s.db.gate.Unlock()
		return 0, fmt.Errorf("store: drop prefixes: %w", err)
	}
	start := time.Now()
	err = s.db.bdb.DropPrefix(prefixes...)
	held := time.Since(start)
	s.db.gate.Unlock()
	if err != nil {
		return held, fmt.Errorf("store: drop prefixes: %w", err)
	}
	s.db.budget.kickCheck()
	return held, nil
}

// Sequence returns a persistent sequence kept at key (inside the space),
// leasing bandwidth numbers at a time: unique and increasing across
// restarts and crashes, with gaps after a crash.
func (s *Space) Sequence(key []byte, bandwidth uint64) (*Sequence, error) {
	if !bytes.HasPrefix(key, s.prefix) {
		return nil, fmt.Errorf("%w: sequence %q in space %q", ErrOutsidePrefix, key, s.prefix)
	}
	if bandwidth == 0 {
		return nil, errors.New("store: sequence bandwidth must be positive")
	}
	seq := &Sequence{db: s.db, key: bytes.Clone(key), bandwidth: bandwidth}
	s.db.spacesMu.Lock()
	s.db.seqs = append(s.db.seqs, seq)
	s.db.spacesMu.Unlock()
	return seq, nil
}

// Txn is a transaction on a Space. Reads see the whole database; writes
// outside the space's prefix fail with ErrOutsidePrefix. Errors of Badger
// (badger.ErrKeyNotFound, badger.ErrTxnTooBig) are returned as they are.
type Txn struct {
	txn     *badger.Txn
	prefix  []byte
	written int64
	// leave and sp are set by Begin.
	leave func()
	sp    *Space
}

// Get returns the item of key, or badger.ErrKeyNotFound.
func (t *Txn) Get(key []byte) (*badger.Item, error) { return t.txn.Get(key) }

// NewIterator returns a Badger iterator; Close it before the transaction
// ends.
func (t *Txn) NewIterator(opt badger.IteratorOptions) *badger.Iterator {
	return t.txn.NewIterator(opt)
}

func (t *Txn) check(key []byte) error {
	if !bytes.HasPrefix(key, t.prefix) {
		return fmt.Errorf("%w: %q in space %q", ErrOutsidePrefix, key, t.prefix)
	}
	return nil
}

// Set sets key to value. value must not change until the transaction
// commits.
func (t *Txn) Set(key, value []byte) error {
	if err := t.check(key); err != nil {
		return err
	}
	if err := t.txn.Set(key, value); err != nil {
		return err
	}
	t.written += int64(len(key) + len(value))
	return nil
}

// SetEntry sets e (with its TTL and metadata).
func (t *Txn) SetEntry(e *badger.Entry) error {
	if err := t.check(e.Key); err != nil {
		return err
	}
	if err := t.txn.SetEntry(e); err != nil {
		return err
	}
	t.written += int64(len(e.Key) + len(e.Value))
	return nil
}

// Delete deletes key.
func (t *Txn) Delete(key []byte) error {
	if err := t.check(key); err != nil {
		return err
	}
	return t.txn.Delete(key)
}

// CommitWith commits a transaction from Begin without waiting for the
// write; cb is called with its result (on a Badger goroutine). The
// transaction holds the store's gate until its write is done, before cb
// runs: a prefix drop or a value-log rewrite (see CollectGarbage) starts
// only once Badger has applied every write admitted before it.
func (t *Txn) CommitWith(cb func(error)) {
	written := t.written
	sp := t.sp
	leave := t.leave
	t.leave = nil
	t.txn.CommitWith(func(err error) {
		if leave != nil {
			leave()
		}
		if err == nil {
			sp.written.Add(written)
			sp.db.budget.wrote(written)
		}
		cb(err)
	})
}

// Discard abandons a transaction from Begin. It is a no-op after
// CommitWith.
func (t *Txn) Discard() {
	t.txn.Discard()
	t.done()
}

func (t *Txn) done() {
	if t.leave != nil {
		t.leave()
		t.leave = nil
	}
}

// Sequence is a persistent counter (a Badger Sequence) that survives the
// store's read-only → read-write reopen.
type Sequence struct {
	db        *DB
	key       []byte
	bandwidth uint64

	mu  sync.Mutex
	seq *badger.Sequence
	gen uint64
}

// Next returns the next number of the sequence (starting at 0). A lease
// renewal writes to the database (Meta class).
func (q *Sequence) Next() (uint64, error) {
	leave, err := q.db.enterWrite(Meta)
	if err != nil {
		return 0, err
	}
	defer leave()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seq == nil || q.gen != q.db.gen {
		// A sequence of an earlier open is gone with its database: its
		// unused lease is a gap.
		if q.seq, err = q.db.bdb.GetSequence(q.key, q.bandwidth); err != nil {
			q.seq = nil
			return 0, fmt.Errorf("store: sequence %q: %w", q.key, err)
		}
		q.gen = q.db.gen
	}
	n, err := q.seq.Next()
	if err != nil {
		return 0, fmt.Errorf("store: sequence %q: %w", q.key, err)
	}
	return n, nil
}

// release returns the unused lease; called by Close with the database
// still open.
func (q *Sequence) release(gen uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seq == nil || q.gen != gen {
		return nil
	}
	err := q.seq.Release()
	q.seq = nil
	if err != nil && !errors.Is(err, badger.ErrBlockedWrites) {
		return fmt.Errorf("store: release sequence %q: %w", q.key, err)
	}
	return nil
}
