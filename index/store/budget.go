package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// State is the storage state that /healthz and the metrics report.
type State string

// States.
const (
	// StateOK: under the budget with room to spare.
	StateOK State = "ok"
	// StateLow: near the budget; with DELETE_OLDEST_MEDIA the oldest
	// media is being evicted. Recording goes on.
	StateLow State = "low"
	// StateFull: media and records are refused: over the budget with
	// nothing left to evict, the disk lacks the room Badger needs, or the
	// database is read-only.
	StateFull State = "full"
	// StateDenying: DENY_NEW_MEDIA and the budget is reached: media and
	// records are refused until retention frees space.
	StateDenying State = "denying"
)

// Recording reports whether s admits new media and records.
func (s State) Recording() bool { return s == StateOK || s == StateLow }

// Status is the store's view of its disk, as of its last check.
type Status struct {
	// State is the storage state; Reason says why in words when it is not
	// StateOK.
	State  State
	Reason string
	// Policy is the budget's policy.
	Policy Policy
	// Used is what the database's directory holds on disk (allocated
	// bytes), with the reserve file counted at its full size even while
	// it is released. LSM, ValueLog and Reserve are Badger's tables and
	// memtable logs, its value log, and the reserve file as they are.
	Used, LSM, ValueLog, Reserve int64
	// Limit is the budget: the smaller of MaxBytes and what keeps the
	// minimum free space free. Eviction starts at EvictAt.
	Limit, EvictAt int64
	// DiskTotal and DiskFree are the filesystem's size and free bytes
	// (0 when unknown).
	DiskTotal, DiskFree int64
	// ReadOnly is set while the database is open read-only.
	ReadOnly bool
	// Checked is when the status was measured.
	Checked time.Time
}

// Stats are counters since Open.
type Stats struct {
	// Evictions counts Evict calls that removed media;
	// FragmentsEvicted and BytesEvicted add up what they removed.
	Evictions, FragmentsEvicted, BytesEvicted uint64
	// Refused counts writes refused by admission control (ErrFull).
	Refused uint64
	// ReserveReleases counts releases of the reserve file on a full disk.
	ReserveReleases uint64
	// PreallocFailures counts failures to preallocate Badger's writable
	// files.
	PreallocFailures uint64
	// VlogFilesGCed counts value-log files rewritten or deleted by GC.
	VlogFilesGCed uint64
	// Checks counts disk checks.
	Checks uint64
}

type budgetStats struct {
	evictions, fragmentsEvicted, bytesEvicted  atomic.Uint64
	refused, reserveReleases, preallocFailures atomic.Uint64
	vlogFilesGCed, checks                      atomic.Uint64
}

// maxBytes32 caps the budget of a 32-bit process, whose 3 GiB of address
// space must hold Badger's memory-mapped files besides the Go heap.
const maxBytes32 = 1536 << 20

// The reserve files in the database directory (Badger ignores files it
// does not know). The runtime reserve is released when another program
// fills the disk; the start reserve only by Open: Badger cannot open a
// database that crashed read-only (it must truncate its memtable logs),
// so a crash on a full disk needs room to open it for writing.
const (
	reserveName      = "kinedge.reserve"
	startReserveName = "kinedge.reserve-start"
)

// budgetState is the DB's disk guard and budget.
type budgetState struct {
	d *DB

	mu      sync.Mutex // serialises check
	status  atomic.Pointer[Status]
	written atomic.Int64 // bytes committed since the last check

	kick      chan struct{}
	evictKick chan struct{}

	evictorMu sync.Mutex
	evictor   Evictor
	media     *Space
	// evictMu serialises eviction rounds (the loop and Enforce).
	evictMu sync.Mutex
	// exhausted is set when the evictor had nothing left; cleared by the
	// next write of Data.
	exhausted atomic.Bool

	// lastFree is the disk's free space at the last check (-1: none yet):
	// the reserve is released only once the disk stops shrinking, so a
	// program still filling it does not take the appliance's room.
	lastFree atomic.Int64
	// shrinking is whether the last check saw the free space go down.
	shrinking atomic.Bool
	// lastShrink is when (Options.Now, Unix nanoseconds) a check last saw
	// the free space go down. Two checks a millisecond apart (a refused
	// write kicks one) can both miss a writer stalled on a busy disk, so
	// "stopped shrinking" also needs settleTime without a shrink.
	lastShrink atomic.Int64
	// lastUsed is the database's own allocated bytes at the last check,
	// beside lastFree: what the disk lost beyond what the database grew
	// was taken by another program.
	lastUsed atomic.Int64
	// foreignFill is whether the last check saw another program take
	// more than foreignSlack of the disk since the check before.
	foreignFill atomic.Bool

	// after is time.After; tests see and drive the eviction backoff.
	after func(time.Duration) <-chan time.Time

	lastPreallocWarn time.Time
	// pageOutDir is the database directory as /proc/self/maps names it;
	// "" once page-out turned out not to work here.
	pageOutDir string
	stats      budgetStats
}

func (b *budgetState) init(d *DB) {
	b.d = d
	b.kick = make(chan struct{}, 1)
	b.evictKick = make(chan struct{}, 1)
	b.lastFree.Store(-1)
	b.after = time.After
	b.status.Store(&Status{State: StateOK, Policy: d.opts.Budget.Policy, Limit: math.MaxInt64, EvictAt: math.MaxInt64})
}

// Sizes of the room Badger needs, from the options (see the package doc).

// reserveSize is the reserve file: room for a memtable flush, the
// compaction it triggers and a value-log GC rewrite.
func (b *budgetState) reserveSize() int64 {
	o := &b.d.opts
	return o.ValueLogFileSize + int64(o.NumMemtables+4)*o.MemTableSize
}

// startReserveSize is the start reserve: what opening for writing needs
// after a crash (openFloor with every memtable log preallocated).
func (b *budgetState) startReserveSize() int64 {
	return 1<<20 + int64(b.d.opts.NumMemtables+2)*b.memTarget()
}

// reserveSizes are the sizes of the reserve files by name.
func (b *budgetState) reserveSizes() map[string]int64 {
	return map[string]int64{reserveName: b.reserveSize(), startReserveName: b.startReserveSize()}
}

// missingReserve is what the reserve files lack of their full sizes.
func (b *budgetState) missingReserve(files dirFiles) int64 {
	var n int64
	for name, size := range b.reserveSizes() {
		n += max(size-files.reserves[name], 0)
	}
	return n
}

// metaFloor is the free space below which only Reclaim writes are
// admitted and the reserve is released: Badger's room to flush its
// memtables and start a new memtable log.
func (b *budgetState) metaFloor() int64 {
	o := &b.d.opts
	return int64(o.NumMemtables+1) * o.MemTableSize
}

// dropFloor is the free space a prefix drop needs: every memtable flushed
// into a table, and the tables its compaction rewrites.
func (b *budgetState) dropFloor() int64 {
	return b.metaFloor() + 2*b.d.opts.MemTableSize
}

// roomToDrop reports ErrFull when the disk has less than dropFloor free,
// after releasing the reserve to make room. Badger creates a table by
// truncating a new file to its size and copying into its memory map: on a
// disk another program filled meanwhile, that copy faults (SIGBUS) instead
// of failing. Checking first narrows that to a writer racing this very
// moment: while another program is seen filling the disk (the disk lost
// more than the database grew, at the last check or since) a drop near
// the floor waits until it stops. The reserve is the appliance's room,
// released only once the disk stopped shrinking (here and in check), so
// that a program still filling the disk does not take it.
func (b *budgetState) roomToDrop() error {
	if b.d.opts.InMemory {
		return nil
	}
	need := b.dropFloor()
	disk, err := b.d.opts.Disk(b.d.opts.Dir)
	if err != nil || disk.Total == 0 {
		return nil
	}
	grown := max(b.foreignGrowth(disk.Free, b.scan().used), 0)
	filling := b.foreignFill.Load() || grown > foreignSlack
	// Another program filling the disk may take the room free now before
	// Badger's flush copies into the table it just sized, unless there
	// is far more than the drop needs.
	if disk.Free >= need && !(filling && disk.Free < 4*(need+grown)) {
		return nil
	}
	if filling {
		// Wait until it stops (the next checks see it).
		b.stats.refused.Add(1)
		b.kickCheck()
		return fmt.Errorf("%w: another program is filling the disk (%s free); a prefix drop waits until it stops", ErrFull, bytesText(disk.Free))
	}
	if b.settled(disk.Free) && b.releaseReserve(reserveName, "dropping prefixes") {
		if disk, err = b.d.opts.Disk(b.d.opts.Dir); err != nil || disk.Free >= need {
			return nil
		}
	}
	b.stats.refused.Add(1)
	b.kickCheck()
	return fmt.Errorf("%w: %s free on the disk, a prefix drop needs %s to flush and compact", ErrFull, bytesText(disk.Free), bytesText(need))
}

// foreignSlack is how much of the disk may go, beyond the database's own
// growth, between two measurements without counting as another program
// filling it (filesystem metadata, the page-out's rounding).
const foreignSlack = 4 << 20

// foreignGrowth returns what the disk lost since the last check beyond
// what the database grew (used: its allocated bytes now): what another
// program took. It is 0 before the first check.
func (b *budgetState) foreignGrowth(free, used int64) int64 {
	lastFree, lastUsed := b.lastFree.Load(), b.lastUsed.Load()
	if lastFree < 0 {
		return 0
	}
	return (lastFree - free) - (used - lastUsed)
}

// shrinkingTo reports whether the disk's free space went down to free
// since the last check: something is still writing.
func (b *budgetState) shrinkingTo(free int64) bool {
	last := b.lastFree.Load()
	return last >= 0 && free < last
}

// settleTime is how long the disk must not shrink before the reserve may
// be released: a check interval, at most a second.
func (b *budgetState) settleTime() time.Duration {
	return min(b.d.opts.CheckInterval, time.Second)
}

// settled reports whether the disk has not shrunk, at the last check or
// since (free), for settleTime: whoever filled it has stopped.
func (b *budgetState) settled(free int64) bool {
	if b.shrinking.Load() || b.shrinkingTo(free) {
		return false
	}
	return b.d.opts.Now().Sub(time.Unix(0, b.lastShrink.Load())) >= b.settleTime()
}

// dataFloor is the free space below which Data writes are refused: room
// for the next value-log file and two memtable logs as the guard
// preallocates them, flushes and compactions, and what may be written
// before the next check.
func (b *budgetState) dataFloor() int64 {
	o := &b.d.opts
	return b.vlogTarget() + 2*b.memTarget() + 4*o.MemTableSize + b.metaFloor() + o.WriteKick
}

// vlogTarget is how much of the value-log file being written the guard
// preallocates: Badger moves to a new file once one holds
// ValueLogFileSize, so past it only the last write (at most what goes by
// between two checks, or one large value) lands.
func (b *budgetState) vlogTarget() int64 {
	o := &b.d.opts
	return o.ValueLogFileSize + max(o.WriteKick, 4<<20)
}

// memTarget is how much of the memtable log being written the guard
// preallocates: a memtable is full at MemTableSize, and one transaction
// adds at most 15% of it.
func (b *budgetState) memTarget() int64 {
	return b.d.opts.MemTableSize * 5 / 4
}

// openFloor is the free space Badger needs to open the database for
// writing: its pid file, manifest and the first pages of a new memtable
// log and value-log file (1 MiB covers them), and the tables it flushes
// from the memtable logs it replays (about their size).
func (b *budgetState) openFloor() int64 {
	floor := int64(1 << 20)
	ents, err := os.ReadDir(b.d.opts.Dir)
	if err != nil {
		return floor
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".mem") {
			if fi, err := e.Info(); err == nil {
				floor += allocated(fi)
			}
		}
	}
	return floor
}

// margin is the distance below the limit at which eviction starts.
func (b *budgetState) margin(limit int64) int64 {
	return max(2*b.d.opts.ValueLogFileSize, limit/50)
}

// MinBudget is the smallest MaxBytes Open accepts for opts: the reserve,
// the eviction margin and a few value-log files of data.
func MinBudget(opts Options) int64 {
	opts.EnsureDefaults()
	b := budgetState{d: &DB{opts: opts}}
	return b.reserveSize() + b.startReserveSize() + 2*opts.ValueLogFileSize + 4*opts.ValueLogFileSize
}

func (b *budgetState) checkMaxBytes() error {
	if m := b.d.opts.Budget.MaxBytes; m > 0 && m < MinBudget(b.d.opts) {
		return fmt.Errorf("%w: storage max_bytes %d is under %d, the least these Badger sizes work in (reserve, eviction margin, value-log files)",
			ErrInvalidOptions, m, MinBudget(b.d.opts))
	}
	return nil
}

// Status returns the storage status as of the last check.
func (d *DB) Status() Status { return *d.budget.status.Load() }

// Stats returns the store's counters since Open.
func (d *DB) Stats() Stats {
	s := &d.budget.stats
	return Stats{
		Evictions: s.evictions.Load(), FragmentsEvicted: s.fragmentsEvicted.Load(), BytesEvicted: s.bytesEvicted.Load(),
		Refused: s.refused.Load(), ReserveReleases: s.reserveReleases.Load(), PreallocFailures: s.preallocFailures.Load(),
		VlogFilesGCed: s.vlogFilesGCed.Load(), Checks: s.checks.Load(),
	}
}

// Check measures the disk now, enforces the guard and returns the fresh
// status (the store does it every CheckInterval on its own).
func (d *DB) Check() Status {
	if d.opts.InMemory {
		return d.Status()
	}
	return d.budget.check()
}

func (b *budgetState) setEvictor(e Evictor, media *Space) {
	b.evictorMu.Lock()
	b.evictor, b.media = e, media
	b.evictorMu.Unlock()
	b.kickCheck()
}

// mediaShare is the share of the bytes written since Open that went to
// the media space (1 when unknown).
func (b *budgetState) mediaShare(media *Space) float64 {
	if media == nil {
		return 1
	}
	b.d.spacesMu.Lock()
	spaces := b.d.spaceList
	b.d.spacesMu.Unlock()
	var all int64
	for _, s := range spaces {
		all += s.written.Load()
	}
	if all == 0 {
		return 1
	}
	return float64(media.written.Load()) / float64(all)
}

func (b *budgetState) kickCheck() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// wrote accounts n bytes committed, and asks for a check once WriteKick
// bytes went by.
func (b *budgetState) wrote(n int64) {
	if b.d.opts.InMemory || n <= 0 {
		return
	}
	if b.written.Add(n) >= b.d.opts.WriteKick {
		b.kickCheck()
	}
}

// admit is the admission control of writes of class.
func (b *budgetState) admit(class Class) error {
	if b.d.opts.InMemory || class == Reclaim {
		return nil
	}
	st := b.status.Load()
	pending := b.written.Load()
	switch class {
	case Data:
		if !st.State.Recording() {
			b.stats.refused.Add(1)
			return fmt.Errorf("%w: %s", ErrFull, st.Reason)
		}
		if st.DiskTotal > 0 && st.DiskFree-pending < b.dataFloor() {
			b.stats.refused.Add(1)
			b.kickCheck()
			return fmt.Errorf("%w: %s free on the disk, the database needs %s to work safely", ErrFull, bytesText(st.DiskFree-pending), bytesText(b.dataFloor()))
		}
		if st.Used+pending >= st.Limit {
			b.stats.refused.Add(1)
			b.kickCheck()
			why := "evicting the oldest media"
			if b.d.opts.Budget.Policy == DenyNewMedia {
				why = "DENY_NEW_MEDIA refuses new media until retention frees space"
			}
			return fmt.Errorf("%w: storage budget reached (%s of %s used); %s", ErrFull, bytesText(st.Used+pending), bytesText(st.Limit), why)
		}
	case Meta:
		if st.DiskTotal > 0 && st.DiskFree-pending < b.metaFloor() {
			b.stats.refused.Add(1)
			b.kickCheck()
			return fmt.Errorf("%w: %s free on the disk, the database needs %s to flush", ErrFull, bytesText(st.DiskFree-pending), bytesText(b.metaFloor()))
		}
	}
	return nil
}

// prepareOpen makes room to open the database for writing: it releases
// the reserve file when the disk is too full, and reports whether the
// database must be opened read-only.
func (b *budgetState) prepareOpen() (readOnly bool, err error) {
	disk, err := b.d.opts.Disk(b.d.opts.Dir)
	if err != nil {
		return false, nil // unknown: try
	}
	if disk.Free >= b.openFloor() {
		return false, nil
	}
	for _, name := range []string{reserveName, startReserveName} {
		if b.releaseReserve(name, "opening the database") {
			if disk, err = b.d.opts.Disk(b.d.opts.Dir); err == nil && disk.Free >= b.openFloor() {
				return false, nil
			}
		}
	}
	if !exists(filepath.Join(b.d.opts.Dir, badger.ManifestFilename)) {
		return false, fmt.Errorf("%w: %s free on the disk under %s, a new database needs %s",
			ErrFull, bytesText(disk.Free), b.d.opts.Dir, bytesText(b.openFloor()))
	}
	return true, nil
}

// tight reports whether the disk has less room than opening for writing
// needs.
func (b *budgetState) tight() bool {
	disk, err := b.d.opts.Disk(b.d.opts.Dir)
	return err == nil && disk.Free < b.openFloor()
}

func (b *budgetState) releaseReserveIfTight() {
	disk, err := b.d.opts.Disk(b.d.opts.Dir)
	if err == nil && disk.Free < b.metaFloor() {
		b.releaseReserve(reserveName, "closing the database")
	}
}

// releaseReserve removes the reserve file name and reports whether there
// was one.
func (b *budgetState) releaseReserve(name, why string) bool {
	path := filepath.Join(b.d.opts.Dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	if err := os.Remove(path); err != nil {
		b.d.log.Error("store: cannot release the disk reserve", "path", path, "err", err)
		return false
	}
	b.stats.reserveReleases.Add(1)
	b.d.log.Warn("store: disk full: released the disk reserve so the database can work", "while", why, "freed_bytes", allocated(fi))
	return true
}

// watch runs check every CheckInterval and when kicked, until Close.
func (b *budgetState) watch() {
	defer b.d.wg.Done()
	t := time.NewTicker(b.d.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-b.d.ctx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
		b.check()
	}
}

// check measures the disk and the database's files, preallocates Badger's
// writable memory-mapped files, keeps or releases the reserve, reopens a
// read-only database for writing when there is room, computes the budget
// and the state, and wakes the evictor when needed.
func (b *budgetState) check() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.d
	b.stats.checks.Add(1)
	b.written.Store(0) // the measurement below includes them
	disk, diskErr := d.opts.Disk(d.opts.Dir)
	if diskErr != nil {
		disk = DiskSpace{}
	}
	files := b.scan()

	// Guard: Badger writes its value log, memtable logs and discard
	// statistics through shared memory maps of sparse files; a page that
	// has no block when the disk is full faults (SIGBUS). Allocate the
	// blocks of the files being written now.
	if !d.ReadOnly() {
		for _, f := range files.writable {
			if f.alloc >= f.want {
				continue
			}
			if err := preallocate(f.path, f.want); err != nil && !errors.Is(err, os.ErrNotExist) {
				b.stats.preallocFailures.Add(1)
				files.preallocFailed = true
				if now := time.Now(); now.Sub(b.lastPreallocWarn) > time.Minute {
					b.lastPreallocWarn = now
					d.log.Warn("store: cannot preallocate a database file", "file", filepath.Base(f.path), "bytes", f.want, "err", err)
				}
			}
		}
		if files.preallocFailed || len(files.writable) > 0 {
			files = b.scan() // sizes after preallocation
		}
	}
	if diskErr == nil {
		if disk2, err := d.opts.Disk(d.opts.Dir); err == nil {
			disk = disk2
		}
	}

	// Reserve: released when the disk got below Badger's flush room
	// (something else filled it) and stopped shrinking, taken again once
	// there is room for it and for writing.
	if diskErr == nil {
		shrinking := b.shrinkingTo(disk.Free)
		if shrinking || b.lastFree.Load() < 0 {
			b.lastShrink.Store(d.opts.Now().UnixNano())
		}
		b.foreignFill.Store(b.foreignGrowth(disk.Free, files.used) > foreignSlack)
		b.lastFree.Store(disk.Free)
		b.lastUsed.Store(files.used)
		b.shrinking.Store(shrinking)
		if have := files.reserves[reserveName]; have > 0 && disk.Free < b.metaFloor() && b.settled(disk.Free) {
			if b.releaseReserve(reserveName, "running") {
				files.used -= have
				files.reserve -= have
				disk.Free += have
				files.reserves[reserveName] = 0
			}
		} else if !d.ReadOnly() {
			for _, name := range []string{reserveName, startReserveName} {
				size, have := b.reserveSizes()[name], files.reserves[name]
				if have >= size || disk.Free < size-have+b.dataFloor() {
					continue
				}
				path := filepath.Join(d.opts.Dir, name)
				if err := createReserve(path, size); err != nil {
					d.log.Warn("store: cannot create a disk reserve", "path", path, "err", err)
					os.Remove(path)
					break
				}
				files = b.scan()
				if disk2, err := d.opts.Disk(d.opts.Dir); err == nil {
					disk = disk2
				}
			}
		}
	}

	b.pageOut()

	// A database opened read-only on a full disk is reopened for writing
	// once the disk has room.
	if d.ReadOnly() && diskErr == nil && disk.Free >= b.openFloor()+b.startReserveSize() {
		if err := b.reopen(); err != nil {
			d.log.Warn("store: reopening the database for writing failed", "err", err)
		}
	}

	st := b.evaluate(disk, diskErr == nil, files)
	b.status.Store(&st)
	if st.Used >= st.EvictAt && d.opts.Budget.Policy == DeleteOldestMedia && !st.ReadOnly {
		select {
		case b.evictKick <- struct{}{}:
		default:
		}
	}
	return st
}

// pageOut keeps Badger's memory-mapped files out of the process's RSS
// (pageOutMapped): without it every value written since the last
// value-log GC stays mapped, and the file-backed RSS of a data-streams
// load grew by 1 MiB per 1000 records (1.2 GB after 1.2M). Called with
// b.mu held, on every check: every CheckInterval and WriteKick bytes.
func (b *budgetState) pageOut() {
	if b.pageOutDir == "" {
		return
	}
	if _, err := pageOutMapped(b.pageOutDir, b.d.opts.ResidentTail); err != nil {
		b.d.log.Debug("store: page-out of mapped files off", "err", err)
		b.pageOutDir = ""
	}
}

// evaluate computes the budget and the state.
func (b *budgetState) evaluate(disk DiskSpace, diskKnown bool, files dirFiles) Status {
	d := b.d
	bud := d.opts.Budget
	st := Status{
		Policy: bud.Policy, Used: files.used, LSM: files.lsm, ValueLog: files.vlog, Reserve: files.reserve,
		DiskTotal: disk.Total, DiskFree: disk.Free, ReadOnly: d.ReadOnly(), Checked: d.opts.Now(),
	}
	// The reserves count as used even while released, so that taking
	// them back does not push usage over the limit.
	planned := files.used + b.missingReserve(files)
	limit := int64(math.MaxInt64)
	if bud.MaxBytes > 0 {
		limit = bud.MaxBytes
	}
	if strconv.IntSize == 32 {
		// Badger maps every file of the database into the address space:
		// a 32-bit process (linux/arm) cannot hold more.
		limit = min(limit, maxBytes32)
	}
	if diskKnown {
		minFree := bud.MinFreeBytes
		if bud.MinFreePercent > 0 {
			minFree = max(minFree, int64(float64(disk.Total)*bud.MinFreePercent/100))
		}
		// The budget binds before the floor: a value-log file's
		// preallocation above it.
		minFree = max(minFree, b.dataFloor()+b.vlogTarget())
		limit = min(limit, files.used+disk.Free-minFree+b.missingReserve(files))
	}
	limit = max(limit, 0)
	st.Limit = limit
	st.EvictAt = max(limit-b.margin(limit), 0)
	st.Used = planned
	lowAt := limit - limit/10
	if bud.Policy == DeleteOldestMedia {
		lowAt = st.EvictAt
	}
	prev := b.status.Load()
	switch {
	case st.ReadOnly:
		st.State, st.Reason = StateFull, "the disk was too full to open the database for writing; it reopens by itself once there is room"
	case bud.Policy == DenyNewMedia && (planned >= limit || prev.State == StateDenying && planned >= limit-b.margin(limit)):
		st.State, st.Reason = StateDenying, fmt.Sprintf("storage budget reached (%s of %s used); DENY_NEW_MEDIA refuses new media until retention frees space", bytesText(planned), bytesText(limit))
	case files.preallocFailed:
		st.State, st.Reason = StateFull, "the disk has no room left for the database's files"
	case diskKnown && disk.Free < b.dataFloor():
		st.State, st.Reason = StateFull, fmt.Sprintf("%s free on the disk, the database needs %s to work safely", bytesText(disk.Free), bytesText(b.dataFloor()))
	case planned >= limit:
		st.State, st.Reason = StateFull, fmt.Sprintf("storage budget exceeded (%s of %s used)", bytesText(planned), bytesText(limit))
		if b.exhausted.Load() {
			st.Reason += "; no media left to evict"
		} else {
			st.Reason += "; evicting the oldest media"
		}
	case planned >= lowAt:
		st.State = StateLow
		st.Reason = fmt.Sprintf("%s of a %s budget used", bytesText(planned), bytesText(limit))
		if bud.Policy == DeleteOldestMedia {
			st.Reason += "; evicting the oldest media"
		}
	default:
		st.State = StateOK
	}
	return st
}

// reopen replaces the read-only database with a read-write one.
func (b *budgetState) reopen() error {
	d := b.d
	d.life.Lock()
	defer d.life.Unlock()
	if d.closed || !d.readOnly {
		return nil
	}
	if err := d.bdb.Close(); err != nil {
		d.log.Warn("store: closing the read-only database", "err", err)
	}
	bdb, err := badger.Open(d.opts.badgerOptions(false))
	if err != nil {
		// Keep serving reads.
		ro, rerr := badger.Open(d.opts.badgerOptions(true))
		if rerr != nil {
			return errors.Join(err, rerr)
		}
		d.bdb = ro
		d.gen++
		return err
	}
	d.bdb, d.readOnly = bdb, false
	d.gen++
	d.log.Info("store: database reopened for writing: the disk has room again")
	return nil
}

// evictLoop removes the oldest media while usage is past EvictAt and the
// policy is DELETE_OLDEST_MEDIA. A round that failed (no room to drop on a
// full disk, most often) is not retried at once: every check kicks the
// loop, and a refused write kicks a check, so without a pause a full disk
// turned into an eviction attempt every millisecond. It waits a check
// interval, doubling after each failure up to evictBackoffMax.
func (b *budgetState) evictLoop() {
	defer b.d.wg.Done()
	var backoff time.Duration
	for {
		select {
		case <-b.d.ctx.Done():
			return
		case <-b.evictKick:
		}
		if b.evict(b.d.ctx) == nil {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, b.d.opts.CheckInterval), evictBackoffMax)
		select {
		case <-b.d.ctx.Done():
			return
		case <-b.after(backoff):
		}
		// The failed round's own checks kicked the loop: go again.
		select {
		case b.evictKick <- struct{}{}:
		default:
		}
	}
}

// evictBackoffMax caps the pause after failed eviction rounds.
const evictBackoffMax = 8 * time.Second

// Enforce measures the disk and, under DELETE_OLDEST_MEDIA, evicts until
// usage is back under the budget, as the store does on its own after
// every check; it returns the status after. Tests and simulations on an
// injected clock call it.
func (d *DB) Enforce(ctx context.Context) Status {
	if d.opts.InMemory {
		return d.Status()
	}
	d.budget.evict(ctx)
	return d.budget.check()
}

// evict runs eviction rounds until usage is back to EvictAt minus a
// value-log file (hysteresis) or nothing is left to evict. It returns the
// error that stopped a round short (nil when done or nothing was left).
func (b *budgetState) evict(ctx context.Context) error {
	b.evictMu.Lock()
	defer b.evictMu.Unlock()
	b.evictorMu.Lock()
	ev, media := b.evictor, b.media
	b.evictorMu.Unlock()
	if ev == nil {
		return nil
	}
	st := b.check()
	target := st.EvictAt - b.d.opts.ValueLogFileSize
	stalled := false
	for st.Used > target && ctx.Err() == nil && b.d.opts.Budget.Policy == DeleteOldestMedia {
		before := st.Used
		ask := st.Used - target
		if stalled {
			// The last round freed no value-log file: the oldest file
			// still holds newer media. Evicting a little more frees it
			// whole; rewriting its live part would cost SD-card writes.
			ask = min(ask, b.d.opts.ValueLogFileSize/4)
		}
		got, err := ev.Evict(ctx, ask)
		if errors.Is(err, ErrNothingToEvict) {
			// What is left is not media (records, indexes) or still being
			// written: rewrite the value-log files half garbage.
			if _, err := b.d.CollectGarbage(ctx, 0.5); err != nil && ctx.Err() == nil {
				b.d.log.Warn("store: value log gc under budget pressure failed", "err", err)
			}
			if st = b.check(); st.Used > st.EvictAt && !b.exhausted.Swap(true) {
				b.d.log.Warn("store: over the storage budget with no media left to evict", "used", st.Used, "limit", st.Limit)
			}
			return nil
		}
		if err != nil {
			if ctx.Err() == nil {
				b.d.log.Warn("store: eviction failed", "err", err)
			}
			return err
		}
		b.exhausted.Store(false)
		b.stats.evictions.Add(1)
		b.stats.fragmentsEvicted.Add(uint64(got.Fragments))
		b.stats.bytesEvicted.Add(uint64(got.Bytes))
		st = b.check()
		// Progress is a value-log file's worth given back (half a file:
		// compactions alone move usage by kilobytes).
		progress := func() bool { return before-st.Used >= b.d.opts.ValueLogFileSize/2 }
		if !progress() {
			// No value-log file was freed. If other data (records) shares
			// the files with the media, a file emptied of media is only
			// that share garbage: collect files that far gone, rewriting
			// the other data. With media alone this is the index's own
			// ratio again and rewrites nothing.
			ratio := min(max(b.mediaShare(media)*0.9, 0.5), 0.9)
			if _, err := b.d.CollectGarbage(ctx, ratio); err != nil && ctx.Err() == nil {
				b.d.log.Warn("store: value log gc under budget pressure failed", "err", err)
			}
			st = b.check()
		}
		stalled = !progress()
		b.d.log.Info("store: evicted the oldest media for the storage budget",
			"fragments", got.Fragments, "bytes", got.Bytes, "before", got.Before, "used", st.Used, "limit", st.Limit)
	}
	return nil
}

// dirFiles is what scan found in the database directory.
type dirFiles struct {
	used, lsm, vlog, reserve int64
	reserves                 map[string]int64 // allocated bytes by reserve file
	writable                 []writableFile
	preallocFailed           bool
}

// writableFile is a memory-mapped file Badger writes, and the allocated
// size it should have.
type writableFile struct {
	path        string
	alloc, want int64
}

// scan sums the allocated bytes of the database directory and finds the
// files Badger writes through memory maps: the newest value-log file and
// memtable log, and the discard statistics.
func (b *budgetState) scan() dirFiles {
	out := dirFiles{reserves: map[string]int64{}}
	dir := b.d.opts.Dir
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	var maxVlog, maxMem = -1, -1
	var vlogPath, memPath string
	var vlogInfo, memInfo os.FileInfo
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		name := e.Name()
		a := allocated(fi)
		out.used += a
		switch {
		case name == reserveName || name == startReserveName:
			out.reserve += a
			out.reserves[name] = a
		case strings.HasSuffix(name, ".vlog"):
			out.vlog += a
			if id, err := strconv.Atoi(strings.TrimSuffix(name, ".vlog")); err == nil && id > maxVlog {
				maxVlog, vlogPath, vlogInfo = id, filepath.Join(dir, name), fi
			}
		case strings.HasSuffix(name, ".mem"):
			out.lsm += a
			if id, err := strconv.Atoi(strings.TrimSuffix(name, ".mem")); err == nil && id > maxMem {
				maxMem, memPath, memInfo = id, filepath.Join(dir, name), fi
			}
		case strings.HasSuffix(name, ".sst"):
			out.lsm += a
		case name == "DISCARD":
			out.lsm += a
			out.writable = append(out.writable, writableFile{filepath.Join(dir, name), a, fi.Size()})
		default:
			out.lsm += a
		}
	}
	if vlogInfo != nil {
		out.writable = append(out.writable, writableFile{vlogPath, allocated(vlogInfo), b.vlogTarget()})
	}
	if memInfo != nil {
		out.writable = append(out.writable, writableFile{memPath, allocated(memInfo), b.memTarget()})
	}
	return out
}

// bytesText writes n bytes for people: "1.5 GiB".
func bytesText(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for math.Abs(f) >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i-1])
}

// writeZeros appends n zero bytes to f (for filesystems without
// fallocate).
func writeZeros(f *os.File, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
