package engine

import (
	"github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

func countKeys(txn *store.Txn, p []byte) int {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	n := 0
	for it.Seek(p); it.Valid(); it.Next() {
		n++
	}
	return n
}
