package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// commentWidth is where Default wraps help text.
const commentWidth = 78

// bare are the flag value types whose String() is a valid plain YAML
// scalar that parses back to the same value.
var bare = map[string]bool{
	"bool": true, "int": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true,
	"float32": true, "float64": true, "duration": true, "count": true,
}

// node is one level of the key tree Default renders.
type node struct {
	name     string
	flag     *pflag.Flag
	children map[string]*node
}

// Default renders every flag of fs (except help, version and config.file)
// as a commented YAML configuration file holding the flags' defaults, then
// the typed sections with commented examples. Loading the result and
// applying it to fs changes nothing.
func Default(fs *pflag.FlagSet) string {
	root := &node{children: map[string]*node{}}
	fs.VisitAll(func(f *pflag.Flag) {
		if reserved[f.Name] || f.Hidden {
			return
		}
		n := root
		for _, part := range strings.Split(KeyName(f.Name), ".") {
			c := n.children[part]
			if c == nil {
				c = &node{name: part, children: map[string]*node{}}
				n.children[part] = c
			}
			n = c
		}
		n.flag = f
	})
	var b strings.Builder
	b.WriteString(header)
	for _, c := range sorted(root) {
		b.WriteByte('\n')
		render(&b, c, 0)
	}
	b.WriteString(sections)
	return b.String()
}

const header = `# auditlkm configuration file (auditlkm config default prints this).
#
# Every key mirrors a command-line flag: split the flag name at its dots
# into nested keys and write _ for -, so --audit.backlog-limit is
# audit: {backlog_limit: ...}. A flag given on the command line wins over
# the file. Unknown keys and bad values are errors: check a file with
# auditlkm config check FILE. The values below are the defaults.
`

const sections = `
# Detections: extra exclusions by detection id, and detections to turn
# off. An exclusion suppresses an alert when every criterion it lists
# matches (within one criterion, any pattern may match). Criteria: exe,
# name, invoked, parent_exe, parent_name, parent_args, path, file_name,
# extension, original_extension, args, args_all, cwd, no_executable,
# options, modules, ancestor; require: [package] (or package-manager, snap,
# inert-file) asks for the proof the shipped exclusions carry
# (docs/exclusions.md). Suppressed alerts are counted in
# auditlkm_detections_suppressed_total.
detections:
  # Detection ids to turn off, e.g. [kmod-load-tool].
  disabled: []
  # For example:
  #   lkm-config-file-creation:
  #     - reason: config-management
  #       exe: [/opt/puppetlabs/puppet/bin/ruby]
  #       path: ["/etc/modprobe.d/puppet-*.conf"]
  exclusions: {}

# Extra file watches loaded into the kernel with the embedded audit rules
# (auditctl -w PATH -p PERMISSIONS -k KEY) and removed at exit. For example:
#   - path: /opt/vendor/modules.d/
#     permissions: wa
#     key: auditlkm-vendor
watches: []
`

func sorted(n *node) []*node {
	out := make([]*node, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func render(b *strings.Builder, n *node, depth int) {
	indent := strings.Repeat("  ", depth)
	if n.flag != nil {
		comment(b, indent, n.flag.Usage+" (--"+n.flag.Name+")")
		b.WriteString(indent + n.name + ": " + yamlValue(n.flag) + "\n")
	}
	if len(n.children) == 0 {
		return
	}
	if n.flag != nil {
		// A flag that is also a prefix of other flags cannot be mirrored
		// in one mapping; say so rather than emit an invalid file.
		b.WriteString(indent + "# (also a prefix of other flags: they cannot be set from the file)\n")
		return
	}
	b.WriteString(indent + n.name + ":\n")
	for _, c := range sorted(n) {
		render(b, c, depth+1)
	}
}

// comment writes text as "# " lines wrapped at commentWidth.
func comment(b *strings.Builder, indent, text string) {
	line := indent + "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > commentWidth && len(line) > len(indent)+1 {
			b.WriteString(line + "\n")
			line = indent + "#"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}

func yamlValue(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		elems := sv.GetSlice()
		q := make([]string, len(elems))
		for i, e := range elems {
			q[i] = quote(e)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	if bare[f.Value.Type()] {
		return f.Value.String()
	}
	return quote(f.Value.String())
}

// quote renders s as a YAML double-quoted scalar. Go's escapes for valid
// UTF-8 text are a subset of YAML's.
func quote(s string) string { return strconv.Quote(s) }
