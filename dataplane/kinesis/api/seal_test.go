package api

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
)

// Two sealed records swapped on disk reach the SDK as InternalFailure,
// never as each other's data.
func TestSwappedSealedRecords(t *testing.T) {
	env := newEnv(t, func(o *engine.Options) {
		o.Sealer = &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	})
	ctx := context.Background()
	c := env.client
	env.create(t, "s", 1)
	if _, err := c.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
		t.Fatal(err)
	}
	secrets := [][]byte{[]byte("pay alice 10"), []byte("pay mallory 1000")}
	for _, d := range secrets {
		if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: d}); err != nil {
			t.Fatal(err)
		}
	}
	getAll := func() (*kinesis.GetRecordsOutput, error) {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		// One attempt: the SDK retries InternalFailure, and it would fail again.
		return c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	}
	out, err := getAll()
	if err != nil || len(out.Records) != 2 || !bytes.Equal(out.Records[0].Data, secrets[0]) {
		t.Fatalf("before the swap: %v", err)
	}

	// Swap the two stored values behind the engine's back.
	var keys, values [][]byte
	err = env.space.View(func(txn *store.Txn) error {
		p := env.space.Key([]byte("r/"))
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
		defer it.Close()
		for it.Seek(p); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			keys, values = append(keys, it.Item().KeyCopy(nil)), append(values, v)
		}
		return nil
	})
	if err != nil || len(keys) != 2 {
		t.Fatalf("stored records: %d, %v", len(keys), err)
	}
	err = env.space.Update(ctx, store.Data, func(txn *store.Txn) error {
		if err := txn.Set(keys[0], values[1]); err != nil {
			return err
		}
		return txn.Set(keys[1], values[0])
	})
	if err != nil {
		t.Fatal(err)
	}

	out, err = getAll()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" {
		t.Fatalf("after the swap: out %v, err %v, want InternalFailure", out, err)
	}
	if out != nil {
		t.Errorf("records returned with the error: %v", out.Records)
	}
}
