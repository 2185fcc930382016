// Package ecs encodes detection alerts (detections.Alert) as Elastic Common
// Schema JSON documents, one per line, and checks documents against the
// ECS field list.
//
// It owns the output format and nothing else: it does not open, rotate or
// close files (the caller owns the io.Writer), and it never uses
// reflection. Documents are built by hand-written appenders; an Encoder
// reuses its buffers and must be used from one goroutine. WriteAlert
// writes each line with exactly one Write call, so a writer opened with
// O_APPEND never interleaves two alerts.
//
// # Fields
//
// ECS fields (ECS 8.12, all present in generated/csv/fields.csv with the
// type used here; ValidateDocument checks this):
//
//	@timestamp                  event time, RFC 3339 UTC with milliseconds (the
//	                            encoding time, with a warning, if the event has
//	                            none or one past year 9999)
//	ecs.version                 "8.12.0"
//	event.kind                  "alert"
//	event.module, event.dataset "auditlkm", "auditlkm.alert"
//	event.category, event.type  arrays, from the alert
//	event.action, event.reason  from the alert
//	event.sequence              audit serial (long)
//	event.severity              1 low .. 4 critical (long)
//	event.risk_score            0-100 (float field, written as an integer)
//	event.outcome               success/failure from SYSCALL success=yes/no
//	rule.id, rule.name, rule.description
//	rule.ruleset                "auditlkm"
//	rule.reference              attack.mitre.org URL of the most specific id
//	threat.framework            "MITRE ATT&CK"
//	threat.tactic.{id,name,reference}            arrays
//	threat.technique.{id,name,reference}         arrays: technique, then sub-technique
//	threat.technique.subtechnique.{id,name,reference}  arrays
//	agent.id, .name, .type, .version  from Host.Agent (every document)
//	host.hostname, host.name, host.id, host.architecture,
//	host.os.type, host.os.family, host.os.kernel  from Host, for events of
//	                            this machine (no node name; run and plugin)
//	host.name, host.os.type     the node name (auditd's node=) and "linux"
//	                            (only Linux writes audit records), for
//	                            another host's event; host.os.type alone
//	                            when the source is unknown (replay)
//	observer.hostname, observer.product ("auditlkm"), observer.os.*
//	                            from Host, when the event has a node name or
//	                            its source is unknown (Config.UnknownSource:
//	                            replay)
//	process.pid, .executable, .name, .args, .args_count, .command_line,
//	process.working_directory, process.start
//	process.title               the PROCTITLE where it disagrees with the
//	                            exec's arguments (Process.Title)
//	process.parent.*            the same, from Alert.Parent; pid also from PPID
//	user.id, user.effective.id, group.id   numeric ids as strings
//	file.path, .name, .directory, .extension (without the dot, case kept)
//	file.inode, .device, .mode ("0644"), .type, .uid  from the PATH record
//	file.size, file.hash.sha256, file.code_signature.{exists,subject_name,
//	digest_algorithm}           a load's module file as read (Alert.ModuleFile),
//	                            when file.path is that file; trusted/valid/status
//	                            are never written: nothing here verifies it
//	related.hash                the module file's sha256
//	message                     a kernel-log alert's line
//
// @timestamp is the event's time, or for a kernel-log alert its line's
// wall time (the kmsg reader converts the kernel's time since boot).
//
// threat.technique.id holds both "T1547" and "T1547.006" (and
// threat.technique.name both names, in the same order), so that a query
// on threat.technique.id for either matches; the sub-technique is also in
// threat.technique.subtechnique.*. The ECS threat fields are array fields.
//
// Everything else is under the one custom object auditd:
//
//	auditd.sequence, auditd.result (success/fail), auditd.session, auditd.node
//	auditd.completion           why the reassembler handed the event on
//	auditd.argv_partial         true when EXECVE arguments are missing
//	auditd.user.audit.id        the auid (absent when unset)
//	auditd.data.{syscall,arch,exit,a0..a3,tty,subj,key}   SYSCALL fields,
//	                            a0..a3 in lower-case hex as the kernel logs them
//	auditd.data.name            KERN_MODULE module name
//	auditd.paths                [{item,name,resolved,nametype,inode,dev,mode,ouid}],
//	                            mode in octal with a leading 0 as the kernel logs it
//	auditd.file.original_path   a rename's source path
//	auditd.rule.covers          public rule ids the detection implements
//	auditd.module.*             the load's module file: path, sha256, size,
//	                            compression, read_error, mismatch, .modinfo
//	                            (name, struct_name, vermagic, license, author,
//	                            description, version, srcversion, depends,
//	                            intree, retpoline, staging, livepatch, import_ns),
//	                            signed, signature.{type,signer,issuer,serial,key_id,
//	                            digest_algorithm,algorithm,length}, problems
//	auditd.kernel_log.{sequence,facility,level,since_boot_us}  a kernel-log line
//	auditd.related              linked events; role module-load for the load a
//	                            kernel-log line is about
//	auditd.records              raw records as Record.Line renders them,
//	                            in arrival order (Config.IncludeRecords)
//	auditd.warnings             decoding and encoding problems
//	auditd.truncated_fields     fields cut at a bound
//	auditd.lossy_fields, auditd.lossy_hex   see below
//
// # Hostile strings
//
// Every string is escaped as JSON requires (quotes, backslash, control
// characters including NUL and ESC as \u00XX, also DEL and U+2028/U+2029),
// so a document is always one line of valid JSON. Bytes that are not valid
// UTF-8 cannot appear in JSON: each such byte is replaced by U+FFFD. Then,
// so that nothing is lost or ambiguous, the field's dotted name is added
// to auditd.lossy_fields and the exact original bytes, lower-case hex, are
// stored under that name in auditd.lossy_hex:
//
//	"file":{"path":"/etc/modprobe.d/\ufffd.conf", ...}
//	"auditd":{..., "lossy_fields":["file.path"],
//	          "lossy_hex":{"file.path":"2f6574632f6d6f6470726f62652e642fff2e636f6e66"}}
//
// A value is exact if and only if its name is not in auditd.lossy_fields;
// a genuine U+FFFD in valid input is not listed. Elements of arrays are
// named with their index as one more segment ("process.args.2",
// "auditd.records.0", "auditd.paths.1.name"). The keys of lossy_hex
// contain dots; map auditd.lossy_hex as a flattened field in Elasticsearch.
// The hex holds the value as emitted, i.e. after truncation if the field
// is also in auditd.truncated_fields.
//
// # Bounds
//
// A string value is cut at MaxStringBytes, an array at MaxArrayLen
// elements and the raw records at MaxRecordsBytes; each cut is listed in
// auditd.truncated_fields. A line is therefore bounded whatever the input.
package ecs
