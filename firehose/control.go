package firehose

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Update changes the destination of delivery stream name, as
// UpdateDestination: version must be the stream's current VersionID
// (else ErrConcurrentModification); change edits a copy of the
// destination, which is checked, stored with VersionID+1 and used from
// the next batch on (a fixed batch keeps the destination it was fixed
// with).
func (e *Engine) Update(ctx context.Context, name string, version int, change func(*S3Destination)) (Stream, error) {
	d, err := e.stream(name)
	if err != nil {
		return Stream{}, err
	}
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	s := d.describe()
	if s.VersionID != version {
		return Stream{}, errorf(ErrConcurrentModification, "Firehose %s is at version %d, not %d: describe it and update again.", name, s.VersionID, version)
	}
	dest := s.Destination
	change(&dest)
	if dest.partitioned() != s.Destination.partitioned() {
		return Stream{}, errorf(ErrInvalidArgument, "Dynamic partitioning cannot be enabled or disabled on an existing delivery stream: create a new one.")
	}
	if err := dest.normalize(); err != nil {
		return Stream{}, err
	}
	s.Destination = dest
	s.VersionID++
	if err := d.save(ctx, s); err != nil {
		return Stream{}, fmt.Errorf("firehose: update %s: %w", name, err)
	}
	d.signal() // new buffering hints count now
	return s, nil
}

// save stores s and makes it the deliverer's (ctlMu held).
func (d *deliverer) save(ctx context.Context, s Stream) error {
	d.mu.Lock()
	s.Status = d.s.Status // the deliverer owns the status
	d.mu.Unlock()
	if err := d.e.saveStream(ctx, &s); err != nil {
		return err
	}
	d.mu.Lock()
	d.s = s
	d.mu.Unlock()
	return nil
}

// Tag limits, as AWS's.
const (
	MaxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

var reTag = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@%]*$`)

// CheckTags checks tags against AWS's rules: keys of 1–128 characters
// not starting with aws:, values of 0–256, letters, spaces, digits and
// _ . : / = + - @ %.
func CheckTags(tags map[string]string) error {
	for k, v := range tags {
		switch {
		case k == "" || len([]rune(k)) > maxTagKeyLen:
			return errorf(ErrInvalidArgument, "Tag key %q must be 1 to %d characters.", k, maxTagKeyLen)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return errorf(ErrInvalidArgument, "Tag key %q: the prefix aws: is reserved.", k)
		case !reTag.MatchString(k):
			return errorf(ErrInvalidArgument, "Tag key %q may hold only letters, spaces, digits and _ . : / = + - @ %%.", k)
		case len([]rune(v)) > maxTagValueLen:
			return errorf(ErrInvalidArgument, "Tag value of %q must be at most %d characters.", k, maxTagValueLen)
		case !reTag.MatchString(v):
			return errorf(ErrInvalidArgument, "Tag value of %q may hold only letters, spaces, digits and _ . : / = + - @ %%.", k)
		}
	}
	return nil
}

// Tag adds or replaces tags of delivery stream name; a stream holds at
// most MaxTags (ErrLimitExceeded).
func (e *Engine) Tag(ctx context.Context, name string, tags map[string]string) error {
	if err := CheckTags(tags); err != nil {
		return err
	}
	d, err := e.stream(name)
	if err != nil {
		return err
	}
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	s := d.describe()
	all := maps.Clone(s.Tags)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, tags)
	if len(all) > MaxTags {
		return errorf(ErrLimitExceeded, "Firehose %s would have %d tags: at most %d.", name, len(all), MaxTags)
	}
	s.Tags = all
	if err := d.save(ctx, s); err != nil {
		return fmt.Errorf("firehose: tag %s: %w", name, err)
	}
	return nil
}

// Untag removes the tags of keys from delivery stream name (absent keys
// are ignored).
func (e *Engine) Untag(ctx context.Context, name string, keys []string) error {
	d, err := e.stream(name)
	if err != nil {
		return err
	}
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	s := d.describe()
	all := maps.Clone(s.Tags)
	for _, k := range keys {
		delete(all, k)
	}
	s.Tags = all
	if err := d.save(ctx, s); err != nil {
		return fmt.Errorf("firehose: untag %s: %w", name, err)
	}
	return nil
}

// Tags returns the tags of delivery stream name, keys in order.
func (e *Engine) Tags(name string) ([]string, map[string]string, error) {
	d, err := e.stream(name)
	if err != nil {
		return nil, nil, err
	}
	s := d.describe()
	return slices.Sorted(maps.Keys(s.Tags)), s.Tags, nil
}
