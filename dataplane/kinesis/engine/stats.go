package engine

import "sync/atomic"

// Stats are the engine's counters since Open.
type Stats struct {
	// RecordsPut and BytesPut count stored records and their data bytes.
	RecordsPut, BytesPut uint64
	// PutCalls counts PutRecord/PutRecords calls that reached the writer.
	PutCalls uint64
	// Batches counts group commits; Syncs counts the fsyncs that made
	// them durable (one sync may cover several batches).
	Batches, Syncs uint64
	// RecordsRead and BytesRead count records returned by GetRecords,
	// ReadRecords and SubscribeToShard.
	RecordsRead, BytesRead uint64
	// ThrottledPuts counts records refused by the write limits;
	// ThrottledReads counts GetRecords calls refused by the read limits.
	ThrottledPuts, ThrottledReads uint64
}

// counters are the atomic backing of Stats.
type counters struct {
	recordsPut, bytesPut, putCalls, batches, syncs atomic.Uint64
	recordsRead, bytesRead                         atomic.Uint64
	throttledPuts, throttledReads                  atomic.Uint64
}

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	return Stats{
		RecordsPut: c.recordsPut.Load(), BytesPut: c.bytesPut.Load(), PutCalls: c.putCalls.Load(),
		Batches: c.batches.Load(), Syncs: c.syncs.Load(),
		RecordsRead: c.recordsRead.Load(), BytesRead: c.bytesRead.Load(),
		ThrottledPuts: c.throttledPuts.Load(), ThrottledReads: c.throttledReads.Load(),
	}
}
