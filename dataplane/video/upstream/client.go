package upstream

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kinedge/kinedge/firehose/uplink"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/putmedia"
)

// DefaultAckTimeout is how long a session waits for any line of the
// response (KVS and kinedge send IDLE acks every few seconds).
const DefaultAckTimeout = time.Minute

// emptySHA256 is the payload hash the KVS producer SDKs sign PutMedia
// with: the body streams, it is not hashed.
var emptySHA256 = func() string { h := sha256.Sum256(nil); return hex.EncodeToString(h[:]) }()

// Client is a KVS PutMedia client: it streams Matroska to
// <Endpoint>/putMedia, signed with SigV4 as the producer SDKs sign it.
type Client struct {
	// Endpoint is the data endpoint, e.g. "https://s-1234.kinesisvideo.
	// us-east-1.amazonaws.com" or another appliance's "http://host:8080".
	Endpoint string
	// Region and Credentials sign the requests (service "kinesisvideo").
	Region      string
	Credentials aws.Credentials
	// HTTP sends the requests. It defaults to a client without timeout
	// (the request streams; AckTimeout bounds silences).
	HTTP *http.Client
	// AckTimeout ends a session that received nothing for that long. It
	// defaults to DefaultAckTimeout.
	AckTimeout time.Duration
	// Now is the clock of the signatures. It defaults to time.Now.
	Now func() time.Time
	// Limiter, when set, caps the bytes of the bodies: the body writer
	// waits on it before each cluster (firehose/uplink; shared by every
	// Put of this client).
	Limiter *uplink.Limiter
}

// Cluster is one fragment to send: its Matroska Cluster (as stored, with
// timecode 0 and blocks relative to it) and its producer time, which
// becomes the cluster's ABSOLUTE timecode.
type Cluster struct {
	Number       uint64
	ProducerTime time.Time
	Cluster      []byte

	// placed is the timecode Put gave it (see place).
	placed   uint64
	isPlaced bool
}

// Timecode is the cluster's ABSOLUTE timecode: the producer time in ms,
// or, once Put placed the session's clusters on one media timeline, the
// time it was sent at (a few ms later where the previous cluster's media
// runs past this one's producer time).
func (c Cluster) Timecode() uint64 {
	if c.isPlaced {
		return c.placed
	}
	return uint64(max(c.ProducerTime.UnixMilli(), 0))
}

// Put sends one PutMedia session: the EBML header, a Segment, an Info and
// tracks, then the clusters in order (their timecodes are patched in
// place: place puts them on one media timeline, see Timecode). persisted is called, on the
// caller's goroutine, with the index of the last cluster each PERSISTED
// ack covers (the upstream persists in order, so an ack for a cluster
// also covers those before it); an error from it ends the session. Put
// returns nil once every cluster is PERSISTED; an ERROR ack ends the
// session with an *AckError, a refusal before the acks with an
// *HTTPError.
func (c *Client) Put(ctx context.Context, stream string, tracks []byte, clusters []Cluster, persisted func(i int) error) error {
	if len(clusters) == 0 {
		return nil
	}
	for i := range clusters {
		if err := mkv.PatchClusterTimecode(clusters[i].Cluster, 0); err != nil {
			return fmt.Errorf("upstream: fragment %d: %w", clusters[i].Number, err)
		}
	}
	if err := place(clusters); err != nil {
		return err
	}
	for i := range clusters {
		if err := mkv.PatchClusterTimecode(clusters[i].Cluster, clusters[i].Timecode()); err != nil {
			return fmt.Errorf("upstream: fragment %d: %w", clusters[i].Number, err)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// The body: one writer goroutine, owned here (the pipe is closed
	// and the goroutine waited for before Put returns).
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		head := mkv.AppendEBMLHeader(nil)
		head = mkv.AppendSegmentStart(head)
		head = mkv.AppendInfo(head, mkv.Info{Title: stream, WritingApp: "kinedge-upstream"})
		head = append(head, tracks...)
		if _, err := pw.Write(head); err != nil {
			return
		}
		for _, cl := range clusters {
			if err := c.Limiter.Wait(ctx, len(cl.Cluster)); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := pw.Write(cl.Cluster); err != nil {
				return
			}
		}
		pw.Close()
	}()
	defer wg.Wait()
	defer pr.CloseWithError(errors.New("upstream: session over"))

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Endpoint, "/")+"/putMedia", pr)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	req.ContentLength = -1 // chunked
	req.Header.Set("x-amzn-stream-name", stream)
	req.Header.Set("x-amzn-fragment-timecode-type", "ABSOLUTE")
	req.Header.Set("x-amzn-producer-start-timestamp", strconv.FormatFloat(float64(clusters[0].ProducerTime.UnixMilli())/1000, 'f', 3, 64))
	req.Header.Set("x-amzn-fragment-acknowledgment-required", "1")
	req.Header.Set("Content-Type", "application/octet-stream")
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, c.Credentials, req, emptySHA256, "kinesisvideo", c.Region, now()); err != nil {
		return fmt.Errorf("upstream: sign: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	timeout := c.AckTimeout
	if timeout <= 0 {
		timeout = DefaultAckTimeout
	}
	watchdog := time.AfterFunc(timeout, func() { cancel(ErrAckTimeout) })
	defer watchdog.Stop()
	resp, err := hc.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrAckTimeout) {
			return cause
		}
		return fmt.Errorf("upstream: PutMedia %s: %w", stream, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpError(resp)
	}
	next := 0 // the first cluster not yet persisted
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		watchdog.Reset(timeout)
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		a, err := putmedia.ParseAck(line)
		if err != nil {
			return err
		}
		switch a.EventType {
		case putmedia.EventPersisted:
			i := find(clusters, next, *a.FragmentTimecode)
			if i < 0 {
				return fmt.Errorf("%w: PERSISTED for timecode %d, not sent or already persisted", putmedia.ErrBadAck, *a.FragmentTimecode)
			}
			if err := persisted(i); err != nil {
				return err
			}
			next = i + 1
			if next == len(clusters) {
				return nil
			}
		case putmedia.EventError:
			e := &AckError{ID: a.ErrorId, Code: a.ErrorCode}
			if a.FragmentTimecode != nil {
				e.Timecode = *a.FragmentTimecode
				if i := find(clusters, next, e.Timecode); i >= 0 {
					e.Number = clusters[i].Number
				}
			}
			return e
		}
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrAckTimeout) {
		return cause
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("upstream: acks of %s: %w", stream, err)
	}
	return fmt.Errorf("%w: %d of %d clusters persisted", ErrIncomplete, next, len(clusters))
}

// find returns the index of the last cluster from next on whose timecode
// is tc, or -1.
func find(clusters []Cluster, next int, tc uint64) int {
	found := -1
	for i := next; i < len(clusters); i++ {
		switch t := clusters[i].Timecode(); {
		case t == tc:
			found = i
		case t > tc:
			return found
		}
	}
	return found
}

// httpError reads KVS's REST-JSON error of a refused request.
func httpError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Msg     string `json:"Message"`
	}
	_ = json.Unmarshal(b, &e)
	if e.Message == "" {
		e.Message = e.Msg
	}
	if e.Type == "" {
		e.Type = resp.Header.Get("x-amzn-ErrorType")
	}
	if e.Message == "" && e.Type == "" {
		e.Message = strings.TrimSpace(string(b))
	}
	return &HTTPError{Status: resp.StatusCode, Type: e.Type, Message: e.Message}
}
