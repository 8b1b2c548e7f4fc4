package kvs

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/streamname"
)

// streamInfo is the KVS StreamInfo shape.
type streamInfo struct {
	CreationTime         awsproto.Timestamp `json:"CreationTime"`
	DataRetentionInHours int                `json:"DataRetentionInHours"`
	DeviceName           string             `json:"DeviceName,omitempty"`
	KmsKeyID             string             `json:"KmsKeyId,omitempty"`
	MediaType            string             `json:"MediaType,omitempty"`
	Status               string             `json:"Status"`
	StreamARN            string             `json:"StreamARN"`
	StreamName           string             `json:"StreamName"`
	Version              string             `json:"Version"`
}

func toStreamInfo(s *index.Stream) streamInfo {
	return streamInfo{
		CreationTime:         awsproto.Timestamp{Time: s.Created},
		DataRetentionInHours: s.RetentionHours,
		DeviceName:           s.DeviceName,
		KmsKeyID:             s.KeyAlias,
		MediaType:            s.MediaType,
		Status:               s.Status,
		StreamARN:            s.ARN,
		StreamName:           s.Name,
		Version:              s.Version,
	}
}

// streamRef is the StreamName / StreamARN pair of most requests.
type streamRef struct {
	StreamName string `json:"StreamName"`
	StreamARN  string `json:"StreamARN"`
}

// createStreamInput is the CreateStream request. StreamStorageConfiguration
// is accepted and ignored (the appliance has one storage tier).
type createStreamInput struct {
	StreamName           string            `json:"StreamName"`
	DeviceName           string            `json:"DeviceName"`
	MediaType            string            `json:"MediaType"`
	KmsKeyID             string            `json:"KmsKeyId"`
	DataRetentionInHours *int64            `json:"DataRetentionInHours"`
	Tags                 map[string]string `json:"Tags"`
}

type createStreamOutput struct {
	StreamARN string `json:"StreamARN"`
}

// createStream is KVS CreateStream.
func (h *Handler) createStream(ctx context.Context, _ *http.Request, in *createStreamInput) (any, error) {
	var c checker
	if in.StreamName == "" {
		c.required("streamName")
	} else {
		c.name("streamName", in.StreamName)
	}
	if in.DeviceName != "" {
		c.deviceName(in.DeviceName)
	}
	if in.MediaType != "" {
		c.mediaType(in.MediaType)
	}
	if in.KmsKeyID != "" {
		c.length("kmsKeyId", in.KmsKeyID, 1, maxKmsKeyIDLen)
	}
	retention := h.DefaultRetentionHours
	if retention <= 0 {
		retention = index.DefaultRetentionHours
	}
	if r := in.DataRetentionInHours; r != nil {
		switch {
		case *r == 0:
			retention = index.ZeroRetentionHours
		case *r < 0 || *r > index.MaxRetentionHours:
			c.fail("dataRetentionInHours", itoa(*r), "Member must have value between 0 and 87600")
		default:
			retention = int(*r)
		}
	}
	if err := c.tags(in.Tags); err != nil {
		return nil, err
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	st, err := h.Index.CreateStream(ctx, index.Stream{
		Name:           in.StreamName,
		RetentionHours: retention,
		MediaType:      in.MediaType,
		KeyAlias:       in.KmsKeyID,
		DeviceName:     in.DeviceName,
	})
	if err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := h.updateTags(ctx, st.Name, func(t map[string]string) error {
			clear(t)
			for k, v := range in.Tags {
				t[k] = v
			}
			return nil
		}); err != nil {
			// Do not leave a stream without the tags it was created with.
			if derr := h.Index.DeleteStream(context.WithoutCancel(ctx), st.Name); derr != nil {
				h.logger().Error("kvs createStream: cannot undo the stream after its tags failed", "stream", st.Name, "err", derr)
			}
			return nil, err
		}
	}
	return createStreamOutput{StreamARN: st.ARN}, nil
}

type describeStreamOutput struct {
	StreamInfo streamInfo `json:"StreamInfo"`
}

// describeStream is KVS DescribeStream.
func (h *Handler) describeStream(ctx context.Context, _ *http.Request, in *streamRef) (any, error) {
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	return describeStreamOutput{StreamInfo: toStreamInfo(&st)}, nil
}

// listStreamsInput is the ListStreams request.
type listStreamsInput struct {
	MaxResults          *int64 `json:"MaxResults"`
	NextToken           string `json:"NextToken"`
	StreamNameCondition *struct {
		ComparisonOperator string `json:"ComparisonOperator"`
		ComparisonValue    string `json:"ComparisonValue"`
	} `json:"StreamNameCondition"`
}

type listStreamsOutput struct {
	StreamInfoList []streamInfo `json:"StreamInfoList"`
	NextToken      string       `json:"NextToken,omitempty"`
}

// streamsTokenPrefix starts every ListStreams NextToken (version 1).
const streamsTokenPrefix = "1."

// listStreams is KVS ListStreams: streams in name order, filtered by a
// name prefix, paged by a NextToken that holds the last name returned.
func (h *Handler) listStreams(ctx context.Context, _ *http.Request, in *listStreamsInput) (any, error) {
	var c checker
	limit := int64(maxListStreams)
	if in.MaxResults != nil {
		limit = *in.MaxResults
		if limit < 1 || limit > maxListStreams {
			c.fail("maxResults", itoa(limit), "Member must have value between 1 and 10000")
		}
	}
	prefix := ""
	if cond := in.StreamNameCondition; cond != nil {
		if cond.ComparisonOperator != "" && cond.ComparisonOperator != "BEGINS_WITH" {
			c.fail("streamNameCondition.comparisonOperator", cond.ComparisonOperator, "Member must satisfy enum value set: [BEGINS_WITH]")
		}
		if cond.ComparisonValue != "" {
			c.name("streamNameCondition.comparisonValue", cond.ComparisonValue)
		}
		prefix = cond.ComparisonValue
	}
	after := ""
	if in.NextToken != "" {
		var ok bool
		if after, ok = decodeStreamsToken(in.NextToken); !ok {
			c.fail("nextToken", in.NextToken, "Member must be a NextToken returned by ListStreams")
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	all, err := h.Index.Streams(ctx)
	if err != nil {
		return nil, err
	}
	out := listStreamsOutput{StreamInfoList: []streamInfo{}}
	for i := range all {
		s := &all[i]
		if !strings.HasPrefix(s.Name, prefix) || (after != "" && s.Name <= after) || h.Visible != nil && !h.Visible(ctx, s.Name) {
			continue
		}
		if int64(len(out.StreamInfoList)) == limit {
			out.NextToken = encodeStreamsToken(out.StreamInfoList[len(out.StreamInfoList)-1].StreamName)
			break
		}
		out.StreamInfoList = append(out.StreamInfoList, toStreamInfo(s))
	}
	return out, nil
}

// encodeStreamsToken returns the NextToken resuming after stream name.
// Names are at most 256 bytes, so tokens stay within KVS's 512.
func encodeStreamsToken(name string) string {
	return streamsTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(name))
}

// decodeStreamsToken parses a ListStreams NextToken (untrusted).
func decodeStreamsToken(tok string) (string, bool) {
	if len(tok) > maxStreamsToken {
		return "", false
	}
	rest, ok := strings.CutPrefix(tok, streamsTokenPrefix)
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || !streamname.Valid(string(b)) {
		return "", false
	}
	return string(b), true
}

// deleteStreamInput is the DeleteStream request: KVS names the stream by
// ARN only.
type deleteStreamInput struct {
	StreamARN      string `json:"StreamARN"`
	CurrentVersion string `json:"CurrentVersion"`
}

// deleteStream is KVS DeleteStream. The stream first goes to DELETING
// under the version check (atomic with it), then leaves the registry; its
// tags go with it.
func (h *Handler) deleteStream(ctx context.Context, _ *http.Request, in *deleteStreamInput) (any, error) {
	var c checker
	if in.StreamARN == "" {
		c.required("streamARN")
	}
	if in.CurrentVersion != "" {
		c.version(in.CurrentVersion)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	name, err := checkStreamRef("", in.StreamARN)
	if err != nil {
		return nil, err
	}
	_, err = h.Index.UpdateStream(ctx, name, in.CurrentVersion, func(s *index.Stream) error {
		if s.ARN != in.StreamARN {
			return notFound()
		}
		s.Status = index.StatusDeleting
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := h.Index.DeleteStream(ctx, name); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// updateStreamInput is the UpdateStream request.
type updateStreamInput struct {
	streamRef
	CurrentVersion string `json:"CurrentVersion"`
	DeviceName     string `json:"DeviceName"`
	MediaType      string `json:"MediaType"`
}

// updateStream is KVS UpdateStream: DeviceName and MediaType, under the
// version check.
func (h *Handler) updateStream(ctx context.Context, _ *http.Request, in *updateStreamInput) (any, error) {
	var c checker
	if in.CurrentVersion == "" {
		c.required("currentVersion")
	} else {
		c.version(in.CurrentVersion)
	}
	if in.DeviceName != "" {
		c.deviceName(in.DeviceName)
	}
	if in.MediaType != "" {
		c.mediaType(in.MediaType)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	err := h.update(ctx, &in.streamRef, in.CurrentVersion, func(s *index.Stream) error {
		if in.DeviceName != "" {
			s.DeviceName = in.DeviceName
		}
		if in.MediaType != "" {
			s.MediaType = in.MediaType
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// Operation values of UpdateDataRetention.
const (
	increaseRetention = "INCREASE_DATA_RETENTION"
	decreaseRetention = "DECREASE_DATA_RETENTION"
)

// updateDataRetentionInput is the UpdateDataRetention request.
type updateDataRetentionInput struct {
	streamRef
	CurrentVersion             string `json:"CurrentVersion"`
	Operation                  string `json:"Operation"`
	DataRetentionChangeInHours *int64 `json:"DataRetentionChangeInHours"`
}

// updateDataRetention is KVS UpdateDataRetention: the retention goes up or
// down by DataRetentionChangeInHours and must stay within 0 to 87600.
func (h *Handler) updateDataRetention(ctx context.Context, _ *http.Request, in *updateDataRetentionInput) (any, error) {
	var c checker
	if in.CurrentVersion == "" {
		c.required("currentVersion")
	} else {
		c.version(in.CurrentVersion)
	}
	switch in.Operation {
	case increaseRetention, decreaseRetention:
	case "":
		c.required("operation")
	default:
		c.fail("operation", in.Operation, "Member must satisfy enum value set: [INCREASE_DATA_RETENTION, DECREASE_DATA_RETENTION]")
	}
	var change int64
	if in.DataRetentionChangeInHours == nil {
		c.required("dataRetentionChangeInHours")
	} else if change = *in.DataRetentionChangeInHours; change < 1 || change > index.MaxRetentionHours {
		c.fail("dataRetentionChangeInHours", itoa(change), "Member must have value between 1 and 87600")
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	err := h.update(ctx, &in.streamRef, in.CurrentVersion, func(s *index.Stream) error {
		cur := int64(s.RetentionHours)
		next := cur + change
		if in.Operation == decreaseRetention {
			next = cur - change
		}
		if next < 0 || next > index.MaxRetentionHours {
			return errorf(awsproto.InvalidArgumentException,
				"The retention of %d hours changed by %d hours is outside 0 to %d hours.", cur, change, index.MaxRetentionHours)
		}
		s.RetentionHours = int(next)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// update applies fn to the stream ref names under the version check; the
// stream must be ACTIVE (else ResourceInUseException) and, when named by
// ARN, be the ARN's stream.
func (h *Handler) update(ctx context.Context, ref *streamRef, version string, fn func(*index.Stream) error) error {
	if ref.StreamName == "" && ref.StreamARN == "" {
		return errorf(awsproto.InvalidArgumentException, "Either StreamName or StreamARN must be specified.")
	}
	name := ref.StreamName
	arnName, err := checkStreamRef(ref.StreamName, ref.StreamARN)
	if err != nil {
		return err
	}
	if arnName != "" {
		name = arnName
	}
	_, err = h.Index.UpdateStream(ctx, name, version, func(s *index.Stream) error {
		if ref.StreamARN != "" && s.ARN != ref.StreamARN {
			return notFound()
		}
		if s.Status != index.StatusActive {
			return errorf(awsproto.ResourceInUseException, "The stream is %s, not ACTIVE.", s.Status)
		}
		return fn(s)
	})
	return err
}

// apiNames lists the values of GetDataEndpoint APIName.
const apiNames = "PUT_MEDIA, GET_MEDIA, LIST_FRAGMENTS, GET_MEDIA_FOR_FRAGMENT_LIST, " +
	"GET_HLS_STREAMING_SESSION_URL, GET_DASH_STREAMING_SESSION_URL, GET_CLIP, GET_IMAGES"

// knownAPIName reports whether s is one of apiNames.
func knownAPIName(s string) bool {
	switch s {
	case "PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
		"GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL", "GET_CLIP", "GET_IMAGES":
		return true
	}
	return false
}

// getDataEndpointInput is the GetDataEndpoint request.
type getDataEndpointInput struct {
	streamRef
	APIName string `json:"APIName"`
}

type getDataEndpointOutput struct {
	DataEndpoint string `json:"DataEndpoint"`
}

// getDataEndpoint is KVS GetDataEndpoint: every data API is served by the
// appliance itself.
func (h *Handler) getDataEndpoint(ctx context.Context, r *http.Request, in *getDataEndpointInput) (any, error) {
	var c checker
	if in.APIName == "" {
		c.required("aPIName")
	} else if !knownAPIName(in.APIName) {
		c.fail("aPIName", in.APIName, "Member must satisfy enum value set: ["+apiNames+"]")
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	if _, err := h.resolve(ctx, in.StreamName, in.StreamARN); err != nil {
		return nil, err
	}
	if !h.serves(in.APIName) {
		return nil, errorf(awsproto.InvalidArgumentException, "APIName %s is not served by this appliance (it serves %s).", in.APIName, strings.Join(h.servedAPIs(), ", "))
	}
	return getDataEndpointOutput{DataEndpoint: h.endpoint(r)}, nil
}

// servedAPIs returns the APIName values getDataEndpoint answers for: the
// data APIs this Handler serves and Handler.ExtraDataAPIs.
func (h *Handler) servedAPIs() []string {
	out := []string{"GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST", "GET_CLIP", "GET_IMAGES", "GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL"}
	for _, a := range h.ExtraDataAPIs {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// serves reports whether the appliance serves the data API name.
func (h *Handler) serves(name string) bool {
	return slices.Contains(h.servedAPIs(), name)
}

// endpoint is the base URL of the appliance as the client of r sees it.
func (h *Handler) endpoint(r *http.Request) string {
	if h.DataEndpoint != "" {
		return strings.TrimSuffix(h.DataEndpoint, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
