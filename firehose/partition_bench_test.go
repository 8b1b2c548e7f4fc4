package firehose

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkPartitionedDelivery puts 64 MiB of 1 KiB JSON records
// (jsonRecords: 200 devices) per iteration to a GZIP stream with dynamic
// partitioning on the device (SizeInMBs 64, the smallest AWS allows), so
// every iteration is one batch of about 200 objects, and waits until
// every record is delivered to versitygw. MB/s is of the records'
// uncompressed bytes; objects/op the objects written. Against the
// unpartitioned rate (BenchmarkDelivery/GZIP) it shows the cost of
// evaluating the query twice per record and writing many small objects.
func BenchmarkPartitionedDelivery(b *testing.B) {
	_, s3 := benchServer(b, "pbench")
	recs := jsonRecords(MinPartitionedSizeInMBs<<20/benchRecord, 1)
	e := openEngine(b, openDB(b, ""), s3, func(o *Options) { o.SpoolBytes = 512 << 20 })
	d := dest("pbench", MinPartitionedSizeInMBs, 900, GZIP)
	d.Prefix = "device=!{partitionKeyFromQuery:device}/"
	d.ErrorOutputPrefix = "errors/"
	d.DynamicPartitioning = &DynamicPartitioning{Enabled: true}
	d.Processing = &Processing{Enabled: true, Processors: []Processor{{Type: ProcessorMetadataExtraction,
		Parameters: []Parameter{{Name: "MetadataExtractionQuery", Value: "{device: .device}"}}}}}
	if _, err := e.Create(context.Background(), "pbench", d); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(recs) * benchRecord))
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for batch := range slices.Chunk(recs, benchBatch) {
			if _, err := e.Put(ctx, "pbench", batch); err != nil {
				b.Fatal(err)
			}
		}
		want := uint64((i + 1) * len(recs))
		waitStats(b, e, "every record delivered", func(st Stats) bool { return st.RecordsDelivered >= want })
	}
	el := time.Since(start)
	b.StopTimer()
	st := e.Stats()
	b.ReportMetric(float64(st.Objects)/float64(b.N), "objects/op")
	b.ReportMetric(el.Seconds()/float64(b.N), "s/batch")
	if st.PartitioningFailed != 0 {
		b.Fatalf("%d records failed partitioning", st.PartitioningFailed)
	}
}
