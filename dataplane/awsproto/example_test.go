package awsproto_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/kinedge/kinedge/dataplane/awsproto"
)

// A Kinesis-style operation behind Middleware: decode the input in the
// request's codec, answer in the same codec, and let errors take the AWS
// shape. (A nil Verifier is anonymous access; production passes one.)
func ExampleMiddleware() {
	type describeInput struct {
		StreamName string `json:"StreamName"`
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := awsproto.RequestID(r.Context())
		c, err := awsproto.CodecOf(r)
		if err != nil {
			awsproto.WriteError(w, awsproto.JSON, id, err)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			awsproto.WriteError(w, c, id, err)
			return
		}
		var in describeInput
		if err := awsproto.Decode(c, body, &in); err != nil {
			awsproto.WriteError(w, c, id, err)
			return
		}
		awsproto.WriteError(w, c, id, awsproto.Errorf(awsproto.ResourceNotFoundException,
			"Stream %s under account 000000000000 not found.", in.StreamName))
	})
	srv := awsproto.Middleware(nil, handler, 0)

	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"StreamName":"cam1"}`))
	req.Header.Set("Content-Type", awsproto.ContentTypeJSON)
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.DescribeStream")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)

	fmt.Println(rec.Code, rec.Header().Get("X-Amzn-ErrorType"))
	fmt.Println(rec.Body.String())
	// Output:
	// 400 ResourceNotFoundException:
	// {"__type":"ResourceNotFoundException","message":"Stream cam1 under account 000000000000 not found."}
}

// Framing a SubscribeToShard response: the initial response, then events.
func ExampleEventStreamWriter() {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", awsproto.ContentTypeEventStream)
	es := awsproto.NewEventStreamWriter(rec, rec.Flush)
	_ = es.WriteEvent("initial-response", awsproto.ContentTypeJSON, []byte(`{}`))
	_ = es.WriteEvent("SubscribeToShardEvent", awsproto.ContentTypeJSON,
		[]byte(`{"Records":[],"ContinuationSequenceNumber":"1","MillisBehindLatest":0}`))

	for {
		m, err := awsproto.ReadMessage(rec.Body)
		if err != nil { // io.EOF at the end
			break
		}
		fmt.Println(m.HeaderString(":message-type"), m.HeaderString(":event-type"), len(m.Payload))
	}
	// Output:
	// event initial-response 2
	// event SubscribeToShardEvent 70
}
