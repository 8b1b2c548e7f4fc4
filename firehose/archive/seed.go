package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/firehose"
)

// Numbering is the index's fragment numbering; *index.Index satisfies it.
type Numbering interface {
	FragmentNumbersIssued(ctx context.Context) (bool, error)
	SeedFragmentNumbers(ctx context.Context, above uint64) error
}

// LastNumber reads the highest fragment number archived under the
// appliance's id; *Remote satisfies it.
type LastNumber interface {
	LastFragmentNumber(ctx context.Context) (uint64, error)
}

// ClockFloor is a time the wall clock cannot be before unless it is unset
// (a board without a battery-backed clock before NTP answers): this code
// did not exist earlier.
var ClockFloor = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// Seeder makes the index number its fragments past the ones archived
// under the appliance's id (see the package doc, "A replacement recording
// under its predecessor's id"). Start it before anything records.
type Seeder struct {
	Archive LastNumber
	Index   Numbering
	// Timeout bounds one reading of the archive (default 10 s).
	Timeout time.Duration
	// MinBackoff and MaxBackoff space the retries while the bucket is
	// unreachable (defaults DefaultMinBackoff, DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	Now                    func() time.Time
	Logger                 *slog.Logger

	checked atomic.Bool
	clocked uint64 // the clock seed (0: none); read by the retry goroutine after Start set it
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// Start reads the archive's last number once and seeds past it. If the
// bucket cannot be read and the index is fresh, it seeds from the clock
// (milliseconds since 1970, or ClockFloor's when the clock is before it);
// either way it then keeps reading the bucket in the background until it
// answers, and seeds past its last number then. It returns an error only
// when the index cannot be seeded.
func (s *Seeder) Start(ctx context.Context) error {
	if s.Archive == nil || s.Index == nil {
		return errors.New("archive: seeder: the Archive and Index fields are required")
	}
	if s.Timeout <= 0 {
		s.Timeout = 10 * time.Second
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = DefaultMinBackoff
	}
	if s.MaxBackoff < s.MinBackoff {
		s.MaxBackoff = max(DefaultMaxBackoff, s.MinBackoff)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	s.done = make(chan struct{})
	err := s.fromArchive(ctx)
	if err == nil {
		close(s.done)
		return nil
	}
	s.Logger.Warn("archive: cannot read the bucket's fragment numbers; retrying in the background", "err", err)
	issued, ierr := s.Index.FragmentNumbersIssued(ctx)
	if ierr != nil {
		close(s.done)
		return fmt.Errorf("archive: seed fragment numbers: %w", ierr)
	}
	if !issued {
		now := s.Now()
		floor := now
		if now.Before(ClockFloor) {
			floor = ClockFloor
			s.Logger.Error("archive: the clock is unset (before the build's floor); numbering from the floor, and the bucket decides once it answers",
				"clock", now.UTC().Format(time.RFC3339), "floor", ClockFloor.Format(time.RFC3339))
		}
		above := uint64(floor.UnixMilli())
		if err := s.Index.SeedFragmentNumbers(ctx, above); err != nil {
			close(s.done)
			return fmt.Errorf("archive: seed fragment numbers from the clock: %w", err)
		}
		s.clocked = above
		s.Logger.Warn("archive: a fresh database numbers its fragments from the clock, past any predecessor's", "above", above)
	}
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.retry(bg)
	return nil
}

// Checked reports whether the numbering has been checked against the
// bucket (and seeded past its last number).
func (s *Seeder) Checked() bool { return s.checked.Load() }

// Close stops the background retries and waits for them.
func (s *Seeder) Close() {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		if s.done != nil {
			<-s.done
		}
	})
}

func (s *Seeder) retry(ctx context.Context) {
	defer close(s.done)
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(firehose.Backoff(s.MinBackoff, s.MaxBackoff, attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err := s.fromArchive(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.Logger.Debug("archive: bucket's fragment numbers still unreadable", "attempt", attempt+1, "err", err)
	}
}

// fromArchive reads the archive's last number and seeds past it.
func (s *Seeder) fromArchive(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	last, err := s.Archive.LastFragmentNumber(rctx)
	if err != nil {
		return err
	}
	if last > 0 {
		if err := s.Index.SeedFragmentNumbers(ctx, last); err != nil {
			return err
		}
		s.Logger.Info("archive: fragment numbers continue past the archive's", "last_archived", last)
		if s.clocked != 0 && last >= s.clocked {
			// A predecessor numbered past the clock (its clock was ahead,
			// or it was seeded from an archive that was): the fragments
			// numbered since the start may share keys with its objects
			// in an hour both recorded.
			s.Logger.Error("archive: the archive's fragment numbers were past the clock's; fragments recorded since the start may overwrite a predecessor's objects of the same hour",
				"last_archived", last, "clock_seed", s.clocked)
		}
	}
	s.checked.Store(true)
	return nil
}
