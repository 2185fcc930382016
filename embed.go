// Package auditlkm holds the files shipped inside the auditlkm binary.
package auditlkm

import "embed"

// RulesFS holds audit.rules.d/*.rules, the audit rules auditlkm installs
// and loads. Use fs.Sub(RulesFS, "audit.rules.d") to get the files at the
// top of the file system, as auditrules.ParseFS and auditrules.Install
// expect.
//
//go:embed audit.rules.d/*.rules
var RulesFS embed.FS
