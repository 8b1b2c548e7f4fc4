package seal

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kinedge/kinedge/firmware/atomicfile"
)

// Master key files around the active one at path (see RotateMaster):
//
//	path                  the active master key
//	path + ".new"         the next master key of an unfinished rotation
//	path + ".retired-<check>"  a retired master key, kept to unwrap what
//	                      it wrapped elsewhere (archived objects' metadata)
const (
	pendingSuffix = ".new"
	retiredInfix  = ".retired-"
)

// PendingMasterPath is where RotateMaster puts the next master key until
// the rotation completes.
func PendingMasterPath(path string) string { return path + pendingSuffix }

// RetiredMasterPath is where a retired master key of check value check is
// kept.
func RetiredMasterPath(path, check string) string { return path + retiredInfix + check }

// MasterKeys is the active master key and the others found next to it.
type MasterKeys struct {
	// Active wraps new data keys.
	Active MasterKey
	// Pending is the next master key of an unfinished rotation, or zero.
	Pending MasterKey
	// Retired are the retired master keys, sorted by check value.
	Retired []MasterKey
}

// Others returns Pending (when set) and Retired: the keys a Keyring accepts
// besides Active (Keyring.Retired).
func (m MasterKeys) Others() []MasterKey {
	out := slices.Clone(m.Retired)
	if !m.Pending.IsZero() {
		out = append(out, m.Pending)
	}
	return out
}

// LoadMasterKeys reads the pending and retired master key files next to
// path (each checked like the master key file: 32 bytes, owner-only
// permissions) and returns them with active, the master key already loaded
// from path or from elsewhere.
func LoadMasterKeys(path string, active MasterKey) (MasterKeys, error) {
	out := MasterKeys{Active: active}
	p, err := readMasterKeyFile(PendingMasterPath(path))
	switch {
	case err == nil:
		out.Pending = p
	case !errors.Is(err, fs.ErrNotExist):
		return out, err
	}
	names, err := filepath.Glob(RetiredMasterPath(escapeGlob(path), "*"))
	if err != nil {
		return out, fmt.Errorf("master key files: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		m, err := readMasterKeyFile(name)
		if err != nil {
			return out, err
		}
		if want := strings.TrimPrefix(name, path+retiredInfix); m.CheckValue() != want {
			return out, fmt.Errorf("%w: %s holds master key check %s, not %s", ErrBadMasterKey, name, m.CheckValue(), want)
		}
		out.Retired = append(out.Retired, m)
	}
	return out, nil
}

// escapeGlob quotes the glob metacharacters of a path.
func escapeGlob(p string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(p)
}

// RewrapKeys re-wraps every record of store that was not wrapped by to,
// unwrapping it with the master of its MasterCheck among from, one PutKey
// (one transaction) per record, and calls each after every record it
// stored. No sealed blob changes: only the wrapping of its data key does.
// It returns how many records it re-wrapped.
func RewrapKeys(ctx context.Context, store KeyStore, from []MasterKey, to MasterKey, each func(KeyRecord)) (int, error) {
	masters := make(map[string]MasterKey, len(from))
	for _, m := range from {
		masters[m.CheckValue()] = m
	}
	toCheck := to.CheckValue()
	recs, err := store.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("seal: rewrap: list keys: %w", err)
	}
	n := 0
	for _, rec := range recs {
		if rec.MasterCheck == toCheck {
			continue
		}
		m, ok := masters[rec.MasterCheck]
		if !ok {
			return n, fmt.Errorf("%w: rewrap data key %s: wrapped by master key check %s, which is not available", ErrBadMasterKey, rec.ID, rec.MasterCheck)
		}
		raw, err := unwrapKey(m, rec.ID, rec.Alias, rec.Wrapped)
		if err != nil {
			return n, fmt.Errorf("seal: rewrap: unwrap data key %s: %w", rec.ID, err)
		}
		wrapped, err := wrapKey(to, rec.ID, rec.Alias, raw)
		clear(raw)
		if err != nil {
			return n, fmt.Errorf("seal: rewrap data key %s: %w", rec.ID, err)
		}
		rec.Wrapped, rec.MasterCheck = wrapped, toCheck
		if err := store.PutKey(ctx, rec); err != nil {
			if errors.Is(err, ErrKeyDestroyed) {
				continue // shredded meanwhile: nothing to keep
			}
			return n, fmt.Errorf("seal: rewrap data key %s: %w", rec.ID, err)
		}
		n++
		if each != nil {
			each(rec)
		}
	}
	return n, nil
}

// RotationStep names the durable steps of RotateMaster, for Hook.
type RotationStep string

// The steps of RotateMaster, in order. StepRewrapped happens once per
// re-wrapped data key.
const (
	StepPendingWritten RotationStep = "pending-written" // path.new holds the next master key
	StepRewrapped      RotationStep = "rewrapped"       // one more data key is wrapped by it
	StepOldRetired     RotationStep = "old-retired"     // path.retired-<old check> holds the old key
	StepSwitched       RotationStep = "switched"        // path holds the new key: done
)

// RotateMaster replaces the master key file at path by a new random master
// key, re-wrapping every data key of store under it, or finishes a rotation
// that a crash interrupted. The old key stays as a retired file until
// RetireMaster removes it. Each step is durable before the next begins, so
// a kill at any point leaves files that LoadMasterKeys plus Keyring accept
// (every stored data key is wrapped by the active, the pending or a
// retired key) and that a second RotateMaster completes:
//
//  1. write the new key to path.new (created once: a resumed rotation
//     keeps the key it started with);
//  2. re-wrap each data key under it, one transaction each (RewrapKeys);
//  3. write the old key to path.retired-<old check>;
//  4. rename path.new over path (atomic), sync the directory.
//
// The store must not be in use by a running Keyring (the command runs with
// the appliance stopped). hook, if not nil, is called after every step.
// It returns the old and new master keys.
func RotateMaster(ctx context.Context, path string, store KeyStore, hook func(RotationStep)) (old, next MasterKey, err error) {
	if hook == nil {
		hook = func(RotationStep) {}
	}
	old, err = readMasterKeyFile(path)
	if err != nil {
		return old, next, err
	}
	keys, err := LoadMasterKeys(path, old)
	if err != nil {
		return old, next, err
	}
	pending := PendingMasterPath(path)
	if keys.Pending.IsZero() {
		if _, _, err := createMasterKeyFile(pending); err != nil {
			return old, next, err
		}
		if keys.Pending, err = readMasterKeyFile(pending); err != nil {
			return old, next, err
		}
		hook(StepPendingWritten)
	}
	next = keys.Pending
	all := append([]MasterKey{old}, keys.Retired...)
	if _, err := RewrapKeys(ctx, store, all, next, func(KeyRecord) { hook(StepRewrapped) }); err != nil {
		return old, next, err
	}
	retired := RetiredMasterPath(path, old.CheckValue())
	created, err := atomicfile.Create(retired, old[:], 0o600)
	if err != nil {
		return old, next, fmt.Errorf("master key file: %w", err)
	}
	if !created {
		got, err := readMasterKeyFile(retired)
		if err != nil {
			return old, next, err
		}
		if subtle.ConstantTimeCompare(got[:], old[:]) != 1 {
			return old, next, fmt.Errorf("%w: %s does not hold the master key it is named after", ErrBadMasterKey, retired)
		}
	}
	hook(StepOldRetired)
	if err := os.Rename(pending, path); err != nil {
		return old, next, fmt.Errorf("master key file: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return old, next, err
	}
	hook(StepSwitched)
	return old, next, nil
}

// RetireMaster deletes the retired master key file of check value check
// next to path, once no data key of store is wrapped by it. Archived
// objects whose metadata wraps their data key with it can no longer be
// opened from the bucket alone afterwards: keep a backup of the file for
// as long as such archives must stay readable.
func RetireMaster(ctx context.Context, path string, store KeyStore, check string) error {
	name := RetiredMasterPath(path, check)
	if strings.ContainsAny(check, `/\`) || check == "" {
		return fmt.Errorf("%w: %q is not a master key check value", ErrBadMasterKey, check)
	}
	if _, err := readMasterKeyFile(name); err != nil {
		return err
	}
	recs, err := store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("seal: retire master: list keys: %w", err)
	}
	n := 0
	for _, rec := range recs {
		if rec.MasterCheck == check {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%w: %d data keys are still wrapped by master key %s: run the rotation to completion first", ErrBadMasterKey, n, check)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("master key file: %w", err)
	}
	return syncDir(filepath.Dir(name))
}

// syncDir fsyncs a directory so a rename or removal in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("master key file: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("master key file: sync %s: %w", dir, err)
	}
	return nil
}
