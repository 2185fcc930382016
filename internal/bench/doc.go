// Package bench holds auditlkm's whole-path benchmarks: a replay of a real
// audit log through auditlkm's reader, reassembler, correlation, detections
// and ECS encoder, beside go-libaudit's own parse, reassemble and coalesce
// path on the same input. It has no code outside its tests and must never
// be imported.
package bench
