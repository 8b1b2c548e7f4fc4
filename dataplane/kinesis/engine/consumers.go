package engine

import (
	"fmt"
	"strings"
)

// Enhanced fan-out consumers (RegisterStreamConsumer and friends). A
// consumer's ARN is "<stream ARN>/consumer/<name>:<creation epoch seconds>"
// as in Kinesis. Consumers are ACTIVE at once.

func (e *Engine) consumerOut(streamName string, c consumerMeta) Consumer {
	return Consumer{Name: c.Name, ARN: c.ARN, Status: StatusActive, CreatedAt: msTime(c.CreatedMs), StreamARN: e.ARN(streamName)}
}

// RegisterConsumer registers consumer name on stream streamName.
func (e *Engine) RegisterConsumer(streamName, name string) (Consumer, error) {
	var out Consumer
	err := e.updateStream(streamName, func(s *stream) error {
		for _, c := range s.meta.Consumers {
			if c.Name == name {
				return newErr(ErrInUse, fmt.Sprintf("Consumer %s under stream %s already exists for account %s.", name, e.ARN(streamName), e.opts.AccountID))
			}
		}
		if len(s.meta.Consumers) >= MaxConsumersPerStream {
			return newErr(ErrLimitExceeded, fmt.Sprintf("Stream %s under account %s has reached the limit of %d consumers.", streamName, e.opts.AccountID, MaxConsumersPerStream))
		}
		now := e.now()
		c := consumerMeta{Name: name, CreatedMs: now.UnixMilli(), ARN: fmt.Sprintf("%s/consumer/%s:%d", e.ARN(streamName), name, now.Unix())}
		s.meta.Consumers = append(s.meta.Consumers, c)
		out = e.consumerOut(streamName, c)
		return nil
	})
	return out, err
}

// ConsumerQuery names a consumer by ARN, or by stream and consumer name.
type ConsumerQuery struct {
	StreamName   string
	ConsumerName string
	ConsumerARN  string
}

// streamOfConsumerARN returns the stream name in a consumer ARN.
func streamOfConsumerARN(arn string) (string, bool) {
	i := strings.Index(arn, ":stream/")
	if i < 0 {
		return "", false
	}
	rest := arn[i+len(":stream/"):]
	j := strings.Index(rest, "/consumer/")
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

func (e *Engine) resolveConsumer(q ConsumerQuery) (string, func(c consumerMeta) bool, error) {
	if q.ConsumerARN != "" {
		name, ok := streamOfConsumerARN(q.ConsumerARN)
		if !ok {
			return "", nil, newErr(ErrInvalidArgument, fmt.Sprintf("Invalid ConsumerARN %s.", q.ConsumerARN))
		}
		return name, func(c consumerMeta) bool { return c.ARN == q.ConsumerARN }, nil
	}
	if q.StreamName == "" || q.ConsumerName == "" {
		return "", nil, newErr(ErrInvalidArgument, "Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
	}
	return q.StreamName, func(c consumerMeta) bool { return c.Name == q.ConsumerName }, nil
}

func (e *Engine) consumerNotFound(q ConsumerQuery) error {
	what := q.ConsumerARN
	if what == "" {
		what = q.ConsumerName
	}
	return newErr(ErrNotFound, fmt.Sprintf("Consumer %s under account %s not found.", what, e.opts.AccountID))
}

// DescribeConsumer returns the consumer named by q.
func (e *Engine) DescribeConsumer(q ConsumerQuery) (Consumer, error) {
	name, match, err := e.resolveConsumer(q)
	if err != nil {
		return Consumer{}, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	s, err := e.getLocked(name)
	if err != nil {
		return Consumer{}, e.consumerNotFound(q)
	}
	for _, c := range s.meta.Consumers {
		if match(c) {
			return e.consumerOut(name, c), nil
		}
	}
	return Consumer{}, e.consumerNotFound(q)
}

// DeregisterConsumer removes the consumer named by q.
func (e *Engine) DeregisterConsumer(q ConsumerQuery) error {
	name, match, err := e.resolveConsumer(q)
	if err != nil {
		return err
	}
	err = e.updateStream(name, func(s *stream) error {
		for i, c := range s.meta.Consumers {
			if match(c) {
				s.meta.Consumers = append(s.meta.Consumers[:i:i], s.meta.Consumers[i+1:]...)
				return nil
			}
		}
		return e.consumerNotFound(q)
	})
	if err != nil && e.isStreamNotFound(err) {
		return e.consumerNotFound(q)
	}
	return err
}

func (e *Engine) isStreamNotFound(err error) bool {
	ee, ok := err.(*Error)
	return ok && ee.Kind == ErrNotFound && strings.HasPrefix(ee.Message, "Stream ")
}

// ListConsumers lists the consumers of stream name in registration order.
func (e *Engine) ListConsumers(name string) ([]Consumer, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s, err := e.getLocked(name)
	if err != nil {
		return nil, err
	}
	out := make([]Consumer, 0, len(s.meta.Consumers))
	for _, c := range s.meta.Consumers {
		out = append(out, e.consumerOut(name, c))
	}
	return out, nil
}

// StreamNameOfConsumer returns the stream of the consumer with ARN arn, if
// it is registered.
func (e *Engine) StreamNameOfConsumer(arn string) (string, error) {
	c, err := e.DescribeConsumer(ConsumerQuery{ConsumerARN: arn})
	if err != nil {
		return "", err
	}
	name, _ := streamOfConsumerARN(c.ARN)
	return name, nil
}
