package firehose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// The Lambda processor. LambdaArn is the URL of an HTTP(S) transformation
// endpoint (the appliance runs no Lambda functions): each invocation is a
// POST of the Lambda record-transformation event as JSON,
//
//	{"invocationId": "…", "deliveryStreamArn": "…", "region": "…",
//	 "records": [{"recordId": "…", "approximateArrivalTimestamp": ms, "data": base64}]}
//
// answered 2xx with
//
//	{"records": [{"recordId": "…", "result": "Ok"|"Dropped"|"ProcessingFailed", "data": base64}]}

// Error codes of processing-failed records (AWS's where it has one).
const (
	codeProcessingFailed = "Lambda.ProcessingFailedStatus"
	codeMissingRecord    = "Lambda.MissingRecordId"
	codeFunctionError    = "Lambda.FunctionError"
	codeBadResponse      = "Lambda.JsonProcessingException"
)

// Transformation results.
const (
	resultOk               = "Ok"
	resultDropped          = "Dropped"
	resultProcessingFailed = "ProcessingFailed"
)

// maxTransformResponse bounds what an endpoint may answer.
const maxTransformResponse = 64 << 20

// lambdaConf is a Lambda processor's parameters.
type lambdaConf struct {
	url     string
	retries int   // NumberOfRetries: attempts after the first (default 3)
	chunk   int64 // BufferSizeInMBs: record bytes per invocation (default 1 MiB)
}

// lambda returns the enabled Lambda processor's parameters, or nil.
func (p *Processing) lambda() *lambdaConf {
	if p == nil || !p.Enabled {
		return nil
	}
	for _, pr := range p.Processors {
		if pr.Type == ProcessorLambda {
			c, _ := parseLambda(pr)
			return c
		}
	}
	return nil
}

// parseLambda checks a Lambda processor's parameters.
func parseLambda(pr Processor) (*lambdaConf, error) {
	c := &lambdaConf{retries: 3, chunk: 1 << 20}
	for _, par := range pr.Parameters {
		switch par.Name {
		case "LambdaArn":
			u, err := url.Parse(par.Value)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, errorf(ErrInvalidArgument, "Processor Lambda: LambdaArn %q must be the http(s) URL of a transformation endpoint on this appliance.", par.Value)
			}
			c.url = par.Value
		case "NumberOfRetries":
			n, err := strconv.Atoi(par.Value)
			if err != nil || n < 0 || n > 300 {
				return nil, errorf(ErrInvalidArgument, "Processor Lambda: NumberOfRetries %q is not in [0, 300].", par.Value)
			}
			c.retries = n
		case "BufferSizeInMBs":
			f, err := strconv.ParseFloat(par.Value, 64)
			if err != nil || f < 0.2 || f > 3 {
				return nil, errorf(ErrInvalidArgument, "Processor Lambda: BufferSizeInMBs %q is not in [0.2, 3].", par.Value)
			}
			c.chunk = int64(f * (1 << 20))
		case "BufferIntervalInSeconds":
			n, err := strconv.Atoi(par.Value)
			if err != nil || n < 60 || n > 900 {
				return nil, errorf(ErrInvalidArgument, "Processor Lambda: BufferIntervalInSeconds %q is not in [60, 900].", par.Value)
			}
		case "RoleArn":
		default:
			return nil, errorf(ErrInvalidArgument, "Processor Lambda has no parameter %s.", par.Name)
		}
	}
	if c.url == "" {
		return nil, errorf(ErrInvalidArgument, "Processor Lambda needs the parameter LambdaArn (the URL of the transformation endpoint).")
	}
	return c, nil
}

type transformRecord struct {
	RecordID                    string `json:"recordId"`
	ApproximateArrivalTimestamp int64  `json:"approximateArrivalTimestamp"`
	Data                        []byte `json:"data"`
}

type transformRequest struct {
	InvocationID      string            `json:"invocationId"`
	DeliveryStreamArn string            `json:"deliveryStreamArn"`
	Region            string            `json:"region"`
	Records           []transformRecord `json:"records"`
}

// transformResult is one record of a transformation response.
type transformResult struct {
	RecordID string `json:"recordId"`
	Result   string `json:"result"`
	Data     []byte `json:"data"`
	// Metadata.PartitionKeys are the record's partition keys, for
	// !{partitionKeyFromLambda:<key>} with dynamic partitioning.
	Metadata *transformMetadata `json:"metadata,omitempty"`
}

type transformMetadata struct {
	PartitionKeys map[string]string `json:"partitionKeys"`
}

// parseTransformResponse parses an endpoint's answer to an invocation of
// the records sent (their ids): the results by record id. Records absent
// are the caller's to fail; an unknown or repeated record id, a result
// other than Ok, Dropped or ProcessingFailed, or data that is not base64
// make the whole answer invalid.
func parseTransformResponse(body []byte, sent []string) (map[string]transformResult, error) {
	var resp struct {
		Records []transformResult `json:"records"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("response is not the transformation JSON: %w", err)
	}
	if resp.Records == nil {
		return nil, errors.New("response has no records")
	}
	want := make(map[string]bool, len(sent))
	for _, id := range sent {
		want[id] = true
	}
	out := make(map[string]transformResult, len(resp.Records))
	for _, r := range resp.Records {
		if !want[r.RecordID] {
			return nil, fmt.Errorf("response has record id %q, not sent", r.RecordID)
		}
		if _, dup := out[r.RecordID]; dup {
			return nil, fmt.Errorf("response has record id %q twice", r.RecordID)
		}
		switch r.Result {
		case resultOk, resultDropped, resultProcessingFailed:
		default:
			return nil, fmt.Errorf("record %q has result %q (Ok, Dropped or ProcessingFailed)", r.RecordID, r.Result)
		}
		out[r.RecordID] = r
	}
	return out, nil
}

// failedRecord is one line of a processing-failed object, as AWS writes
// it.
type failedRecord struct {
	AttemptsMade           int    `json:"attemptsMade"`
	ArrivalTimestamp       int64  `json:"arrivalTimestamp"`
	ErrorCode              string `json:"errorCode"`
	ErrorMessage           string `json:"errorMessage"`
	AttemptEndingTimestamp int64  `json:"attemptEndingTimestamp"`
	RawData                []byte `json:"rawData"`
	LambdaArn              string `json:"lambdaArn"`
}

// spoolRecord is a record of a batch, read for a transformation.
type spoolRecord struct {
	seq  uint64
	data []byte
}

// transformed is the outcome of a batch's transformation: what goes to
// the object and what goes under the error prefix.
type transformed struct {
	ok     [][]byte
	okKeys []map[string]string // the partition keys of ok's records (nil: none)
	failed []failedRecord
}

// errStopped: the engine closed during a transformation.
var errStopped = errors.New("firehose: stopped")

// transform sends recs, in invocations of at most lc.chunk bytes, to the
// endpoint and sorts the answers. An invocation that fails (transport,
// status, invalid answer) is retried lc.retries times with backoff, then
// its records fail with the last error.
func (d *deliverer) transform(ctx context.Context, s Stream, lc *lambdaConf, recs []spoolRecord, arrival time.Time) (*transformed, error) {
	out := &transformed{}
	for len(recs) > 0 {
		n, size := 0, int64(0)
		for n < len(recs) && (n == 0 || size+int64(len(recs[n].data)) <= lc.chunk) {
			size += int64(len(recs[n].data))
			n++
		}
		if err := d.invoke(ctx, s, lc, recs[:n], arrival, out); err != nil {
			return nil, err
		}
		recs = recs[n:]
	}
	return out, nil
}

func (d *deliverer) invoke(ctx context.Context, s Stream, lc *lambdaConf, recs []spoolRecord, arrival time.Time, out *transformed) error {
	e := d.e
	req := transformRequest{InvocationID: uuid.NewString(), DeliveryStreamArn: s.ARN, Region: e.opts.Region,
		Records: make([]transformRecord, len(recs))}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = recordID(r.seq)
		req.Records[i] = transformRecord{RecordID: ids[i], ApproximateArrivalTimestamp: arrival.UnixMilli(), Data: r.data}
	}
	body, err := json.Marshal(&req)
	if err != nil {
		return err
	}
	fail := func(attempts int, code, msg string, which []spoolRecord) {
		now := e.opts.Now().UnixMilli()
		for _, r := range which {
			out.failed = append(out.failed, failedRecord{AttemptsMade: attempts, ArrivalTimestamp: arrival.UnixMilli(),
				ErrorCode: code, ErrorMessage: msg, AttemptEndingTimestamp: now, RawData: r.data, LambdaArn: lc.url})
		}
	}
	var lastCode, lastMsg string
	for attempt := 0; attempt <= lc.retries; attempt++ {
		if attempt > 0 && !d.sleep(Backoff(e.opts.RetryMin, e.opts.RetryMax, attempt-1), false) {
			return errStopped
		}
		results, code, err := d.post(ctx, lc.url, body, ids)
		if err != nil {
			if ctx.Err() != nil {
				return errStopped
			}
			lastCode, lastMsg = code, err.Error()
			e.log.Warn("firehose: transformation failed", "stream", s.Name, "endpoint", lc.url, "attempt", attempt+1, "err", err)
			continue
		}
		for i, r := range recs {
			res, ok := results[ids[i]]
			switch {
			case !ok:
				fail(attempt+1, codeMissingRecord, "The transformation response did not return this record id.", []spoolRecord{r})
			case res.Result == resultOk:
				out.ok = append(out.ok, res.Data)
				var keys map[string]string
				if res.Metadata != nil {
					keys = res.Metadata.PartitionKeys
				}
				out.okKeys = append(out.okKeys, keys)
			case res.Result == resultProcessingFailed:
				fail(attempt+1, codeProcessingFailed, "ProcessingFailed status was returned for the record by the transformation endpoint.", []spoolRecord{r})
			}
		}
		return nil
	}
	fail(lc.retries+1, lastCode, lastMsg, recs)
	return nil
}

// post makes one invocation; on failure it returns the error code the
// records get if it is the last attempt.
func (d *deliverer) post(ctx context.Context, endpoint string, body []byte, ids []string) (map[string]transformResult, string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.e.opts.TransformTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, codeFunctionError, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.e.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, codeFunctionError, fmt.Errorf("transformation endpoint: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTransformResponse+1))
	if err != nil {
		return nil, codeFunctionError, fmt.Errorf("transformation endpoint: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, codeFunctionError, fmt.Errorf("transformation endpoint answered HTTP %d", resp.StatusCode)
	}
	if len(b) > maxTransformResponse {
		return nil, codeBadResponse, fmt.Errorf("transformation response is larger than %d bytes", maxTransformResponse)
	}
	results, err := parseTransformResponse(b, ids)
	if err != nil {
		return nil, codeBadResponse, err
	}
	return results, "", nil
}

// recordID is the id of the record of seq (as PutRecord answered it).
func recordID(seq uint64) string { return fmt.Sprintf("%016x%s", seq, recordIDSuffix) }
