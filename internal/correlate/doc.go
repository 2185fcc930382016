// Package correlate holds auditlkm's bounded correlation state: the
// process table (who is whose parent, with argv, cwd and container), the
// provenance of kernel module files and module configuration ("dropped
// then loaded"), and the first-seen history of module names, module paths,
// kmod command lines and executables.
//
// The pipeline calls Store.Observe for every reassembled event before the
// detections evaluate it. Observe returns what it learned about the event
// as a Facts value (the module load's resolution, the values first seen,
// the learning flag), computed once there and handed to the detections as
// an argument; the store keeps no per-event result to be read back. For
// the long-lived state (process table, ancestry) detections query the
// Store through the read-only detections.State interface, which *Store
// satisfies structurally. This package knows nothing about detections and
// must never import them. It never blocks
// on anything but short /proc and state-file reads, and never panics on
// input.
//
// # Many hosts
//
// A Store describes one host. Records carrying auditd's node= name (a
// collector auditd receiving from other hosts) are other hosts' events:
// Nodes dispatches each event to the store of its node (the local Store
// for events without a node name, one in-memory store per named node,
// configured by NodeConfig: no /proc, no state dir, caps divided by the
// node limit), so that pids, files and first-seen values of one host are
// never another's. Past the node limit, events are evaluated without
// correlation state and counted.
//
// # Concurrency and lifetime
//
// A Store must be used from one goroutine (the pipeline's detection
// stage). The exceptions are SaveSnapshot, which writes a Snapshot taken
// on the owner goroutine and may run elsewhere, and the Metrics. Call
// Load, then Seed, at start; Maintain and Save periodically; Save at
// shutdown, and Close when done: a live Store keeps the /proc/<pid>
// directories of the last few loaders open between calls (at most
// loaderDirSlots).
//
// # Process identity
//
// A process is identified by (pid, start time), never by pid alone. A
// successful execve/execveat replaces the image of its process; a
// fork/vfork/clone/clone3 that returned a child pid creates the child with
// its parent's image; exit/exit_group marks the process exited, and it
// stays resolvable for ProcessTTL so that late events and its children's
// alerts still name it. An event for a pid whose entry has exited, or
// whose parent pid differs (checked against /proc/<pid>/stat starttime
// when possible), starts a new incarnation; the old one stays reachable by
// its children, whose parent link names the exact incarnation, so a reused
// pid never becomes somebody's parent after the fact. Unknown pids (and
// their parents) are read from /proc lazily, within ProcReadBudget reads
// per second; /proc data for a process that started after the event is
// ignored. With an empty ProcRoot (replays) entries come from events only,
// dated by the event time. A cmdline read, which faults in the process's
// own memory and so could be made to wait for ever before Linux 4.17 (an
// argument area backed by a FUSE file whose server does not answer), is
// waited for at most CmdlineWait on a goroutine of its own; at most
// maxCmdlinesStuck such goroutines are left behind, each ending when its
// read returns, and while they wait no cmdline is read.
//
// # Module loads and links
//
// For an init_module or finit_module event Observe resolves the module
// file (ModuleLoad): from the event's INTEGRITY_RULE record when IMA's
// policy audits module reads (the file the kernel read), else from a
// module file argument of the loading process
// (insmod's argv, made absolute against its cwd), else from that
// process's earlier open of a module file in the stream, else, for
// finit_module and only live, from /proc/<pid>/fd/<a0> within the /proc
// read budget of loads and only if /proc still shows the same process
// (its start time in /proc/<pid>/stat; for a loader's later loads, its
// /proc/<pid> directory held open, whose lookups fail once that process
// has exited whatever process has the pid since). The name is
// the KERN_MODULE name, else derived from the file name. It then links the
// load to the last write of that file within LinkWindow (Drop, with
// DropBySameProcess when the loader wrote it itself) and to module
// configuration writes within LinkWindow that name the module, the file
// (an install command), or the module a modprobe ancestor was asked for
// (Configs). Live stores read written configuration files (bounded by
// maxConfigBytes, when written and again at the load, when they are
// complete) to learn the names. The read of a write waits for the end of
// the batch of records it came in (ReadConfigs), or for an earlier load,
// snapshot or lookup of it: a file that a later event of the batch
// deleted or renamed away is gone and is not opened, so a storm of
// short-lived files costs no open each. A replay never reads this host's files
// and links configuration only by its file name. A retry by the same
// process (insmod falls back from finit_module to init_module) is marked
// Repeat so detections raise one linked alert. Facts.FirstSeen lists the
// values an event marked first on this host.
//
// # Kernel log lines
//
// The kernel prints its module lines (taint, signature, rejection) from
// inside load_module. RecentLoads keeps the last module loads (the event,
// the process the detections resolved, the store's ModuleLoad) so that
// RecentLoads.Find and MatchLoad tie a kernel log line to the load it is
// about: by KERN_MODULE name, the module file's struct module name, the
// .ko argument, or a load refused for a signature reason.
//
// With ReadModuleFiles (live by default, replays only when asked) the
// resolved module file is read and parsed by internal/modfile when the
// load is observed (FileInfo, FileErr, FileMismatch): through
// /proc/<pid>/fd when that is how it was found (the very file loaded,
// even if deleted since), within ModuleFileReadBudget files a second and
// ModuleFileLimits, cached by device, inode, size, mtime and ctime. A
// modprobe load names no file: live, its file is looked up by the
// KERN_MODULE name in the running kernel's modules.dep (FileFromModulesDep).
//
// # Read budgets
//
// The /proc and module file reads made while observing an event draw from
// the budgets of its class (budget.go): loads the kernel refused for want
// of privilege (EPERM, or ENOSYS for a caller whose effective uid is not
// 0: the capability check runs first) have budgets of their own
// (RefusedLoadReadBudget, RefusedModuleFileReadBudget and
// RefusedModuleFileReadTime), other loads theirs (LoadReadBudget,
// ModuleFileReadBudget, ModuleFileReadTime), every other event
// ProcReadBudget. A user who cannot load anything can make as many
// refused calls as it likes; with one budget for all, a flood of them
// left a root load in the same second without its file.
//
// # Bounds
//
// Every table has a cap and a TTL (Config). Eviction is oldest first
// (least recently used processes, oldest writes, least recently seen
// values) through container/list, so inserts are O(1); Maintain drops
// expired entries in O(expired). Stored argv is bounded by maxStoredArgs
// and maxStoredArgBytes, first-seen values by maxSeenValue (longer values
// keep a prefix and a SHA-256). Evictions are counted by table and reason.
//
// # Persistence
//
// The first-seen history, the file provenance table and the time of the
// first start ever (for Learning) are saved to StateDir/correlate.state;
// the process table is not (pids mean nothing after a reboot, and a
// restart reseeds from /proc). The format is JSON lines: a header with a
// format name and version, one object per entry, and a trailer with the
// line count and the SHA-256 of everything before it. JSON lines were
// chosen over a binary format because operators can read and grep the file
// with standard tools, encoding/json is the only dependency, and the
// trailer still detects truncation and corruption. Strings that are not
// valid UTF-8 (hostile module names and paths) are written as
// {"b64":"..."} so nothing is lost. Save is atomic: temporary file in the
// same directory, fsync, rename, fsync of the directory. Load never
// crashes on a bad file: it moves it aside to "<name>.corrupt-<unix
// time>", counts it, returns a *CorruptStateError and starts empty.
//
// # Learning
//
// Facts.Learning is true for LearningPeriod (default 24h) after the first
// start ever on the host, so first-seen detections stay quiet while a new
// fleet member learns its normal modules. A state file set aside as
// corrupt restarts the learning period. A store with neither StateDir nor
// ProcRoot (a replay) counts the period on the event clock from the first
// event it observes: a long replay learns from its first day, a short one
// raises nothing unless LearningPeriod is zero.
//
// # Metrics
//
// The entry gauges are set by Maintain, Seed and Load, never per event;
// every labelled child is looked up once at construction.
package correlate
