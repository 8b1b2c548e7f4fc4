// Package firehose runs delivery streams, Amazon Data Firehose at the
// edge: records put to a delivery stream are spooled durably in the
// appliance's Badger database and written, buffered and compressed, as
// objects to an S3-compatible server (AWS S3, MinIO, Ceph, versitygw …)
// through minio-go. Package firehose/api serves the Firehose_20150804
// wire API over the Engine.
//
// # The promise: nothing acknowledged is lost, no object is written twice
//
// A record is acknowledged (PutRecord, PutRecordBatch) only after the
// transaction holding it is committed (durably: fsync, unless the store is
// opened NoSync for tests). Delivery is at least once, and a batch never
// becomes two objects: its object key, uuid included, is fixed and stored
// before the first attempt to write it, so every retry (after a failure,
// after a restart, after a crash) overwrites the same key. Records are
// deleted only after the object is written. A batch whose records take
// more than one deletion transaction is marked written first, so a crash
// between those transactions does not write its object again with fewer
// records.
//
// # Spool layout
//
// The engine owns the "f/" space of package index/store:
//
//	f/s/<stream>        the delivery stream's definition (JSON)
//	f/r/<stream>/<seq>  one record's data; seq is 8 bytes big-endian from
//	                    one persistent sequence (f/q), increasing per stream
//	f/b/<stream>        the stream's fixed batch (JSON): object key, the
//	                    seq range [from, to] it holds, written flag
//	f/q                 the record sequence
//
// Puts of one stream are serialized (assign seqs, commit), so a batch
// fixed up to seq N can never miss a record below N committed later: the
// range [from, to] read again after a restart holds the same records.
// Records are Data writes (refused by the storage budget: store.ErrFull
// becomes 503 ServiceUnavailableException), definitions and batches Meta,
// deletions Reclaim. The spool has its own byte quota (Options.SpoolBytes,
// firehose.spool_bytes): a call whose records do not fit is refused as a
// whole with ErrSpoolFull (503); nothing of it is stored.
//
// # Delivery
//
// Each delivery stream has one goroutine, owned by the Engine and stopped
// by Close (or DeleteDeliveryStream). It writes the fixed batch if there
// is one; otherwise it waits (on a timer and on puts, never polling) until
// the stream's buffered records reach BufferingHints.SizeInMBs or the
// oldest is IntervalInSeconds old, whichever comes first, and fixes the
// next batch: the oldest records up to the size. The body is the records
// concatenated without a delimiter, compressed as the destination says
// (UNCOMPRESSED, GZIP, ZIP with one entry, Snappy framing, HADOOP_SNAPPY
// in Hadoop's block format; klauspost/compress), and the key is AWS's:
//
//	<prefix>YYYY/MM/dd/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz|.zip|.snappy|.hsnappy]
//
// in UTC at the time the batch is fixed (the injected clock). A prefix
// without expressions is followed by YYYY/MM/dd/HH/, as in AWS. A failed
// write is retried with capped exponential backoff and jitter
// (RetryMin..RetryMax) until it succeeds or the engine closes; the
// backlog, objects and failures are counted (Stats, and Collector for
// Prometheus). A batch is built in memory, compressed, before its write
// (up to SizeInMBs, 128 MiB, uncompressed): streaming multipart uploads
// are left for later. The records of one PutRecordBatch are committed in
// transactions of at most 256 KiB, so with IntervalInSeconds 0 a large
// call may become more than one object. After a restart the interval of
// records already spooled counts from the start.
//
// Without an S3 endpoint (Options.Destination nil: KINEDGE_S3_ENDPOINT
// unset) CreateDeliveryStream is refused with InvalidArgumentException
// saying so; streams defined before keep their records spooled.
//
// # Not done yet (issue 8)
//
// KinesisStreamAsSource with a checkpoint; UpdateDestination,
// Start/StopDeliveryStreamEncryption, tags; ErrorOutputPrefix use,
// RetryOptions.DurationInSeconds (records are retried forever), the
// !{timestamp:…} / !{firehose:…} prefix expressions, FileExtension,
// CustomTimeZone, AppendDelimiterToRecord, processors (the Lambda
// transformation contract), dynamic partitioning, multipart upload for
// large objects; upload windows and bandwidth caps; the video archive,
// tiered replay and disaster recovery; the benchmark.
package firehose
