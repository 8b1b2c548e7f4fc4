package api

import (
	"context"
	"net/http"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
)

func consumerShape(c engine.Consumer) consumerOut {
	return consumerOut{ConsumerName: c.Name, ConsumerARN: c.ARN, ConsumerStatus: c.Status, ConsumerCreationTimestamp: awsproto.Timestamp{Time: c.CreatedAt}}
}

// checkConsumer checks a consumer named by ARN, or by stream ARN and name.
func checkConsumer(v *validator, in *consumerInput) {
	v.streamARN(in.StreamARN, "streamARN")
	v.name(in.ConsumerName, "consumerName")
	v.str(in.ConsumerARN, "consumerARN", 1, 2048, v.re.consumerARN, patConsumerARN)
}

// checkRegisterConsumer is checkConsumer with the stream ARN required.
func checkRegisterConsumer(v *validator, in *consumerInput) {
	v.required(in.StreamARN, "streamARN")
	checkConsumer(v, in)
}

func (h *Handler) consumerQuery(in *consumerInput) (engine.ConsumerQuery, error) {
	q := engine.ConsumerQuery{ConsumerARN: deref(in.ConsumerARN), ConsumerName: deref(in.ConsumerName)}
	if in.StreamARN != nil {
		name, err := h.resolve(streamRef{StreamARN: in.StreamARN})
		if err != nil {
			return q, err
		}
		q.StreamName = name
	}
	return q, nil
}

func (h *Handler) registerConsumer(_ context.Context, _ *http.Request, in *consumerInput) (any, error) {
	if in.ConsumerName == nil {
		return nil, awsproto.Errorf(awsproto.ValidationException, "1 validation error detected: Value null at 'consumerName' failed to satisfy constraint: Member must not be null")
	}
	name, err := h.resolve(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	c, err := h.Engine.RegisterConsumer(name, *in.ConsumerName)
	if err != nil {
		return nil, err
	}
	return registerConsumerOutput{Consumer: consumerShape(c)}, nil
}

func (h *Handler) describeConsumer(_ context.Context, _ *http.Request, in *consumerInput) (any, error) {
	q, err := h.consumerQuery(in)
	if err != nil {
		return nil, err
	}
	c, err := h.Engine.DescribeConsumer(q)
	if err != nil {
		return nil, err
	}
	return describeConsumerOutput{ConsumerDescription: consumerDescription{
		ConsumerName: c.Name, ConsumerARN: c.ARN, ConsumerStatus: c.Status,
		ConsumerCreationTimestamp: awsproto.Timestamp{Time: c.CreatedAt}, StreamARN: c.StreamARN,
	}}, nil
}

func (h *Handler) deregisterConsumer(_ context.Context, _ *http.Request, in *consumerInput) (any, error) {
	q, err := h.consumerQuery(in)
	if err != nil {
		return nil, err
	}
	return empty{}, h.Engine.DeregisterConsumer(q)
}

func checkListConsumers(v *validator, in *listConsumersInput) {
	if v.required(in.StreamARN, "streamARN") {
		v.streamARN(in.StreamARN, "streamARN")
	}
	v.intRange(in.MaxResults, "maxResults", 1, 10000)
}

func (h *Handler) listConsumers(_ context.Context, _ *http.Request, in *listConsumersInput) (any, error) {
	name, err := h.resolve(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != nil {
		t, err := h.decodeToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		after = t.After
	}
	cs, err := h.Engine.ListConsumers(name)
	if err != nil {
		return nil, err
	}
	limit := 100
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	out := listConsumersOutput{Consumers: []consumerOut{}}
	skipping := after != ""
	for i, c := range cs {
		if skipping {
			skipping = c.Name != after
			continue
		}
		out.Consumers = append(out.Consumers, consumerShape(c))
		if len(out.Consumers) == limit && i < len(cs)-1 {
			out.NextToken = h.encodeToken(pageToken{Stream: name, After: c.Name})
			break
		}
	}
	return out, nil
}

// SubscribeToShard (enhanced fan-out): an application/vnd.amazon.eventstream
// response whose first event is "initial-response", followed by
// "SubscribeToShardEvent" events carrying Records, ContinuationSequenceNumber,
// MillisBehindLatest and, at the end of a closed shard, ChildShards. The
// subscription lasts SubscriptionDuration (5 minutes in Kinesis); one active
// subscription per consumer and shard.

const (
	subscribeHeartbeat = 5 * time.Second
	// subscribeRate is the enhanced fan-out throughput of one consumer on
	// one shard: 2 MiB/s (Kinesis quotas).
	subscribeRate = 2 << 20
	// subscribeReadLimit bounds the records of one event.
	subscribeReadLimit = 1000
)

// pacer spends a token bucket of subscribeRate bytes per second holding at
// most one second of tokens; wait says how long to pause before the next
// read once the bucket is in debt.
type pacer struct {
	tokens float64
	at     time.Time
}

func newPacer(now time.Time) *pacer { return &pacer{tokens: subscribeRate, at: now} }

// spend charges n bytes sent at now and returns how long to wait before
// sending more (0 when the bucket is not in debt).
func (p *pacer) spend(now time.Time, n int) time.Duration {
	if dt := now.Sub(p.at).Seconds(); dt > 0 {
		p.tokens = min(subscribeRate, p.tokens+dt*subscribeRate)
		p.at = now
	}
	p.tokens -= float64(n)
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(-p.tokens / subscribeRate * float64(time.Second))
}

func checkSubscribe(v *validator, in *subscribeInput) {
	if v.required(in.ConsumerARN, "consumerARN") {
		v.str(in.ConsumerARN, "consumerARN", 1, 2048, v.re.consumerARN, patConsumerARN)
	}
	if v.required(in.ShardId, "shardId") {
		v.name(in.ShardId, "shardId")
	}
	if in.StartingPosition == nil {
		v.fail("null", "startingPosition", "not be null")
	} else if v.required(in.StartingPosition.Type, "startingPosition.type") {
		v.enum(in.StartingPosition.Type, "startingPosition.type", iteratorTypes()...)
		v.str(in.StartingPosition.SequenceNumber, "startingPosition.sequenceNumber", 0, 0, v.re.seq, patSeq)
	}
}

func (h *Handler) subscribeToShard(w http.ResponseWriter, r *http.Request, codec awsproto.Codec, reqID string, body []byte) {
	fail := func(err error) {
		ae, known := awsError(err)
		if !known {
			h.Logger.Error("SubscribeToShard failed", "request_id", reqID, "err", err)
		}
		awsproto.WriteError(w, codec, reqID, ae)
	}
	in, err := awsproto.DecodeInput(codec, body, validate(h, checkSubscribe))
	if err != nil {
		fail(err)
		return
	}
	stream, err := h.Engine.StreamNameOfConsumer(*in.ConsumerARN)
	if err != nil {
		fail(err)
		return
	}
	sp := in.StartingPosition
	var ts time.Time
	if sp.Timestamp != nil {
		ts = sp.Timestamp.Time
	}
	it, err := h.Engine.GetShardIterator(stream, *in.ShardId, engine.IteratorType(*sp.Type), deref(sp.SequenceNumber), ts)
	if err != nil {
		fail(err)
		return
	}
	key := *in.ConsumerARN + "\x00" + *in.ShardId
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		fail(engine.ErrClosed)
		return
	}
	if _, busy := h.subs[key]; busy {
		h.mu.Unlock()
		fail(awsproto.Errorf(awsproto.ResourceInUseException, "Another active subscription exists for this consumer: %s", *in.ConsumerARN))
		return
	}
	h.subs[key] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, key)
		h.mu.Unlock()
		h.wg.Done()
	}()
	h.pushEvents(w, r, codec, reqID, it)
}

// pushEvents writes the event stream of one subscription until it ends.
func (h *Handler) pushEvents(w http.ResponseWriter, r *http.Request, codec awsproto.Codec, reqID, it string) {
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", awsproto.ContentTypeEventStream)
	hdr.Set("x-amzn-RequestId", reqID)
	w.WriteHeader(http.StatusOK)
	ew := awsproto.NewEventStreamWriter(w, func() { _ = rc.Flush() })
	payloadType := codec.ContentType()
	initial, _ := awsproto.Encode(codec, empty{}) // cannot fail
	if err := ew.WriteEvent("initial-response", payloadType, initial); err != nil {
		return
	}
	deadline := time.NewTimer(h.SubscriptionDuration)
	defer deadline.Stop()
	poll := time.NewTimer(h.SubscriptionPoll)
	defer poll.Stop()
	lastEvent := h.Now()
	pace := newPacer(lastEvent)
	for {
		changed := h.Engine.Changed()
		res, err := h.Engine.ReadRecords(it, subscribeReadLimit)
		if err != nil {
			ae, _ := awsError(err)
			msg, _ := awsproto.Encode(awsproto.JSON, map[string]string{"message": ae.Message})
			_ = ew.WriteException(ae.Type, msg)
			return
		}
		end := res.NextShardIterator == ""
		if len(res.Records) > 0 || end || h.Now().Sub(lastEvent) >= subscribeHeartbeat {
			ev := subscribeEvent{
				Records:                    recordsShape(res.Records),
				ContinuationSequenceNumber: optStr(res.ContinuationSequenceNumber),
				MillisBehindLatest:         res.MillisBehindLatest,
				ChildShards:                childShardsShape(res.ChildShards),
			}
			if end && ev.ChildShards == nil {
				ev.ChildShards = []childShardOut{}
			}
			b, err := awsproto.Encode(codec, ev)
			if err != nil {
				return
			}
			if err := ew.WriteEvent("SubscribeToShardEvent", payloadType, b); err != nil {
				return
			}
			lastEvent = h.Now()
		}
		if end {
			return
		}
		it = res.NextShardIterator
		size := 0
		for _, r := range res.Records {
			size += len(r.Data) + len(r.PartitionKey)
		}
		wait := pace.spend(h.Now(), size)
		if res.MillisBehindLatest > 0 && wait == 0 {
			continue // more to read now
		}
		if !poll.Stop() {
			select {
			case <-poll.C:
			default:
			}
		}
		if wait > 0 {
			changed = nil // over 2 MiB/s: only the pause ends the wait
			poll.Reset(wait)
		} else {
			poll.Reset(h.SubscriptionPoll)
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-deadline.C:
			return
		case <-r.Context().Done():
			return
		case <-h.stop:
			return
		}
	}
}
