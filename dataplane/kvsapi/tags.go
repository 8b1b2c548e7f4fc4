package kvsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	badger "github.com/dgraph-io/badger/v4"
)

// tagPrefix is this package's key prefix in the shared database (see the
// package doc).
const tagPrefix = "vt/"

// tagKey returns the key of a stream's tags.
func tagKey(arn string) []byte { return []byte(tagPrefix + arn) }

// readTags returns the tags stored under the stream ARN in txn (an empty
// map when there are none).
func readTags(txn *badger.Txn, arn string) (map[string]string, error) {
	tags := map[string]string{}
	item, err := txn.Get(tagKey(arn))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return tags, nil
	}
	if err != nil {
		return nil, err
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &tags) })
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorruptTags, arn, err)
	}
	return tags, nil
}

// tags returns the stream's tags.
func (h *Handler) tags(arn string) (map[string]string, error) {
	var tags map[string]string
	err := h.Index.DB().View(func(txn *badger.Txn) error {
		var err error
		tags, err = readTags(txn, arn)
		return err
	})
	return tags, err
}

// updateTags applies fn to the stream's tags in one transaction and stores
// the result (or deletes the key when no tag is left). At most maxTags
// tags may remain.
func (h *Handler) updateTags(ctx context.Context, arn string, fn func(map[string]string) error) error {
	return h.Index.Update(ctx, func(txn *badger.Txn) error {
		tags, err := readTags(txn, arn)
		if err != nil {
			return err
		}
		if err := fn(tags); err != nil {
			return err
		}
		if len(tags) > maxTags {
			return errorf(TagsPerResourceExceededLimitException, "A stream can have at most %d tags; this request would leave %d.", maxTags, len(tags))
		}
		if len(tags) == 0 {
			return txn.Delete(tagKey(arn))
		}
		b, err := json.Marshal(tags)
		if err != nil {
			return err
		}
		return txn.Set(tagKey(arn), b)
	})
}

// deleteTags removes the stream's tags.
func (h *Handler) deleteTags(ctx context.Context, arn string) error {
	return h.Index.Update(ctx, func(txn *badger.Txn) error { return txn.Delete(tagKey(arn)) })
}

// tagStreamInput is the TagStream request.
type tagStreamInput struct {
	streamRef
	Tags map[string]string `json:"Tags"`
}

// tagStream is KVS TagStream: adds or replaces tags.
func (h *Handler) tagStream(ctx context.Context, _ *http.Request, in *tagStreamInput) (any, error) {
	var c checker
	if len(in.Tags) == 0 {
		c.fail("tags", "{}", "Member must have length greater than or equal to 1")
	}
	if err := c.tags(in.Tags); err != nil {
		return nil, err
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	err = h.updateTags(ctx, st.ARN, func(t map[string]string) error {
		for k, v := range in.Tags {
			t[k] = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// untagStreamInput is the UntagStream request.
type untagStreamInput struct {
	streamRef
	TagKeyList []string `json:"TagKeyList"`
}

// untagStream is KVS UntagStream: removes the keys (absent keys are
// ignored).
func (h *Handler) untagStream(ctx context.Context, _ *http.Request, in *untagStreamInput) (any, error) {
	var c checker
	if len(in.TagKeyList) < 1 || len(in.TagKeyList) > maxTags {
		c.fail("tagKeyList", fmt.Sprintf("%d keys", len(in.TagKeyList)), fmt.Sprintf("Member must have length between 1 and %d", maxTags))
	} else {
		for _, k := range in.TagKeyList {
			c.tagKey(k)
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	err = h.updateTags(ctx, st.ARN, func(t map[string]string) error {
		for _, k := range in.TagKeyList {
			delete(t, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// listTagsForStreamInput is the ListTagsForStream request.
type listTagsForStreamInput struct {
	streamRef
	NextToken string `json:"NextToken"`
}

type listTagsForStreamOutput struct {
	Tags map[string]string `json:"Tags"`
}

// listTagsForStream is KVS ListTagsForStream: all tags in one page, so no
// NextToken is ever issued (and none is accepted).
func (h *Handler) listTagsForStream(ctx context.Context, _ *http.Request, in *listTagsForStreamInput) (any, error) {
	if in.NextToken != "" {
		var c checker
		c.fail("nextToken", in.NextToken, "Member must be a NextToken returned by ListTagsForStream")
		return nil, c.err()
	}
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	tags, err := h.tags(st.ARN)
	if err != nil {
		return nil, err
	}
	return listTagsForStreamOutput{Tags: tags}, nil
}
