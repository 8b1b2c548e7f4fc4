package streams

import "github.com/dgraph-io/badger/v4"

type badgerTxn = badger.Txn

func countKeys(txn *badger.Txn, p []byte) int {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	n := 0
	for it.Seek(p); it.Valid(); it.Next() {
		n++
	}
	return n
}
