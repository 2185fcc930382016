package pipeline

// ReplayGCPercent is the garbage collector's target (as GOGC) that
// `auditlkm replay` sets when GOGC is not in its environment. A replay's
// live heap is small (the reassembler's window, the correlation store) while
// it allocates record text and events at hundreds of MB/s, so at the
// default of 100 it collects tens of times per million records; at 400 the
// heap stays in the tens of MB and a replay of the heavy benchmark corpus
// costs about a tenth less CPU.
const ReplayGCPercent = 400

// ReplayMemoryLimit is the soft memory limit (as GOMEMLIMIT) replay sets
// with ReplayGCPercent when neither is in its environment: a large target
// must not let the heap grow to five times a large live set (a flood of
// long command lines fills the correlation tables up to their byte
// budgets), so near this limit the collector runs as often as needed.
const ReplayMemoryLimit = 192 << 20
