package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/kinedge/kinedge/dataplane/authz"
	"github.com/kinedge/kinedge/fragment/seal"
)

func TestOpenUsersBuiltins(t *testing.T) {
	sealer := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	for _, c := range []struct {
		name                     string
		accessKey, publishUser   string
		wantAdmin, wantPublisher string // names; "" for none
	}{
		{"usual", "AKIAX", "camera", "admin", "camera"},
		{"publish user named admin", "AKIAX", "admin", "admin-key", "admin"},
		{"publish user is the access key", "admin", "admin", "admin-key", ""},
	} {
		cfg := defaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.AccessKey, cfg.SecretKey, cfg.PublishUser, cfg.PublishPass = c.accessKey, "adminsecret", c.publishUser, "campass"
		users, err := openUsers(t.Context(), &cfg, sealer, nil)
		if err != nil {
			t.Fatal(err)
		}
		admin, ok := users.ByAccessKey(c.accessKey)
		if !ok || admin.Name != c.wantAdmin || admin.Secret != "adminsecret" || !admin.Can(authz.Admin, "") {
			t.Errorf("%s: admin %+v %v", c.name, admin, ok)
		}
		cam, ok := users.ByName(c.publishUser)
		if c.wantPublisher == "" {
			if ok && cam.Secret == "campass" {
				t.Errorf("%s: the publish user shadows the admin", c.name)
			}
			continue
		}
		if !ok || cam.Secret != "campass" || !cam.Can(authz.Publish, "any") || cam.Can(authz.Read, "any") {
			t.Errorf("%s: publish user %+v %v", c.name, cam, ok)
		}
	}
}

func TestAWSPermissionOf(t *testing.T) {
	for _, c := range []struct {
		service, target, path, body string
		header                      map[string]string
		wantOp                      string
		wantActions                 []authz.Action
		wantStream                  string
	}{
		{"kinesis", "Kinesis_20131202.PutRecords", "/", `{"StreamName":"orders"}`, nil, "PutRecords", []authz.Action{authz.PutRecords}, "orders"},
		{"kinesis", "Kinesis_20131202.GetShardIterator", "/", `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/orders"}`, nil, "GetShardIterator", []authz.Action{authz.GetRecords}, "orders"},
		{"kinesis", "Kinesis_20131202.SubscribeToShard", "/", `{"ConsumerARN":"arn:aws:kinesis:us-east-1:0:stream/orders/consumer/c:1"}`, nil, "SubscribeToShard", []authz.Action{authz.GetRecords}, "orders"},
		{"kinesis", "Kinesis_20131202.CreateStream", "/", `{"StreamName":"x"}`, nil, "CreateStream", []authz.Action{authz.Admin}, "x"},
		{"firehose", "Firehose_20150804.PutRecordBatch", "/", `{"DeliveryStreamName":"logs"}`, nil, "PutRecordBatch", []authz.Action{authz.Firehose}, "logs"},
		{"firehose", "Firehose_20150804.DeleteDeliveryStream", "/", `{"DeliveryStreamName":"logs"}`, nil, "DeleteDeliveryStream", []authz.Action{authz.Admin}, "logs"},
		{"kinesisvideo", "", "/getMedia", `{"StreamName":"cam1"}`, nil, "GetMedia", []authz.Action{authz.Read}, "cam1"},
		{"kinesisvideo", "", "/getHLSStreamingSessionURL", `{"StreamARN":"arn:aws:kinesisvideo:us-east-1:0:stream/cam1/123"}`, nil, "GetHLSStreamingSessionURL", []authz.Action{authz.Read}, "cam1"},
		{"kinesisvideo", "", "/getDASHStreamingSessionURL", `{"StreamName":"cam1"}`, nil, "GetDASHStreamingSessionURL", []authz.Action{authz.Read}, "cam1"},
		{"kinesisvideo", "", "/putMedia", ``, map[string]string{"X-Amzn-Stream-Name": "cam1"}, "PutMedia", []authz.Action{authz.Publish}, "cam1"},
		{"kinesisvideo", "", "/deleteStream", `{"StreamARN":"arn:aws:kinesisvideo:us-east-1:0:stream/cam1/123"}`, nil, "DeleteStream", []authz.Action{authz.Admin}, "cam1"},
		{"kinesisvideo", "", "/listStreams", `{}`, nil, "ListStreams", []authz.Action{authz.Admin}, ""},
		{"kinesis", "Kinesis_20131202.ListStreams", "/", `{}`, nil, "ListStreams", []authz.Action{authz.Admin}, ""},
		{"firehose", "Firehose_20150804.ListDeliveryStreams", "/", `{}`, nil, "ListDeliveryStreams", []authz.Action{authz.Admin}, ""},
	} {
		r := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if c.target != "" {
			r.Header.Set("X-Amz-Target", c.target)
		}
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		p := awsPermissionOf(r, c.service)
		if p.op != c.wantOp || !slices.Equal(p.actions, c.wantActions) || p.stream != c.wantStream {
			t.Errorf("%s %s%s: %+v, want %s %v %q", c.service, c.target, c.path, p, c.wantOp, c.wantActions, c.wantStream)
		}
		// Only the stream lists are open to every user (filtered).
		if want := c.wantOp == "ListStreams"; p.listing != want {
			t.Errorf("%s %s%s: listing %v, want %v", c.service, c.target, c.path, p.listing, want)
		}
	}
}

// FuzzAWSPermissionOf: any body and target decide without panicking, the
// body reaches the operation whole, and an unknown operation needs admin.
func FuzzAWSPermissionOf(f *testing.F) {
	f.Add("kinesis", "Kinesis_20131202.PutRecord", []byte(`{"StreamName":"orders"}`))
	f.Add("kinesisvideo", "", []byte(`{"StreamARN":"arn:aws:kinesisvideo:us-east-1:0:stream/cam1/1"}`))
	f.Add("firehose", "Firehose_20150804.PutRecord", []byte(`{"DeliveryStreamName":"logs"`))
	f.Add("kinesis", "Kinesis_20131202.Nope", bytes.Repeat([]byte("{"), 70<<10))
	f.Fuzz(func(t *testing.T, service, target string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/getMedia", bytes.NewReader(body))
		r.GetBody = nil // a streamed body: the peek path
		r.Header.Set("X-Amz-Target", target)
		p := awsPermissionOf(r, service)
		got, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("the body changed: %v", err)
		}
		if len(p.actions) == 0 {
			t.Fatal("no action required")
		}
	})
}
