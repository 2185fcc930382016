// Package logfile reads audit.log text and yields auditevent.Record values.
//
// It is the text source of auditlkm: `auditlkm replay FILE...|-` reads
// audit.log files (plain or gzip, single files, rotated sets or whole
// directories) and `auditlkm plugin` reads the records that auditd's
// dispatcher writes to a plugin's stdin in `format = string`, one record a
// line. Both auditd log formats are accepted, raw and ENRICHED (interpreted
// fields after a 0x1d separator), with or without a "node=" prefix.
//
// A Reader owns the files it opens and closes them as it moves on; it never
// closes the stdin reader it was given. Lines are read with one large
// bufio.Reader per input kind and handed to auditevent.ParseLine, which
// copies what it keeps, so a returned Record never aliases a read buffer.
//
// Input is hostile: lines may hold NULs and non-UTF-8 bytes, end in CRLF, be
// arbitrarily long or lack a final newline. None of that is fatal. A line
// that does not parse is skipped, counted by Reason and reported through
// Config.OnSkip with its file and line number; a line longer than
// Config.MaxLineBytes is discarded up to the next newline without being
// buffered. Only I/O errors (an unreadable file, a corrupt gzip stream) end
// a Reader, and their message names the path.
//
// Counters (Progress and Metrics) are kept in plain fields on the hot path
// and published with atomics in batches: before every refill of the read
// buffer, every flushEvery lines, when a file ends and on Close. Progress is
// therefore safe to call from any goroutine and lags the reader by at most
// one batch.
package logfile
