package kvs

import (
	"context"
	"fmt"
	"net/http"
)

// updateTags applies fn to the stream's tags in one transaction of the
// index and stores the result. At most maxTags tags may remain.
func (h *Handler) updateTags(ctx context.Context, name string, fn func(map[string]string) error) error {
	return h.Index.UpdateStreamTags(ctx, name, func(tags map[string]string) error {
		if err := fn(tags); err != nil {
			return err
		}
		if len(tags) > maxTags {
			return errorf(TagsPerResourceExceededLimitException, "A stream can have at most %d tags; this request would leave %d.", maxTags, len(tags))
		}
		return nil
	})
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
	err = h.updateTags(ctx, st.Name, func(t map[string]string) error {
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
	err = h.updateTags(ctx, st.Name, func(t map[string]string) error {
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
	tags, err := h.Index.StreamTags(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	return listTagsForStreamOutput{Tags: tags}, nil
}
