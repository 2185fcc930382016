package auditlkm

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/auditlkm/auditlkm"

// docGraph reads the first mermaid graph of docs/architecture.md: its
// nodes (node id to package path) and its edges ("a b" by package path).
func docGraph(t *testing.T) (nodes map[string]string, edges []string) {
	t.Helper()
	f, err := os.Open("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	nodeRE := regexp.MustCompile(`^\s*(\w+)\["([^"<]+)`)
	edgeRE := regexp.MustCompile(`^\s*(\w+) --> (\w+)\s*$`)
	nodes = map[string]string{}
	var ids [][2]string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && line == "```mermaid":
			in = true
		case in && line == "```":
			for _, e := range ids {
				a, okA := nodes[e[0]]
				b, okB := nodes[e[1]]
				if !okA || !okB {
					t.Fatalf("edge %s --> %s names an undeclared node", e[0], e[1])
				}
				edges = append(edges, a+" "+b)
			}
			return nodes, edges
		case in:
			if m := nodeRE.FindStringSubmatch(line); m != nil {
				pkg := strings.Fields(m[2])[0]
				if pkg == "auditlkm" {
					pkg = "" // the root package
				}
				nodes[m[1]] = strings.TrimSuffix(module+"/"+pkg, "/")
			} else if m := edgeRE.FindStringSubmatch(line); m != nil {
				ids = append(ids, [2]string{m[1], m[2]})
			}
		}
	}
	t.Fatal("docs/architecture.md: no mermaid graph")
	return nil, nil
}

// testOnly reports a package that exists for tests only: under test/, a
// package whose code imports "testing", or one with no code but doc.go.
func testOnly(path string, imports, files []string) bool {
	return strings.HasPrefix(path, module+"/test") || slices.Contains(imports, "testing") ||
		len(files) == 1 && files[0] == "doc.go"
}

// goGraph is the import graph `go list` reports between the module's
// packages, test-only packages left out.
func goGraph(t *testing.T) (pkgs, edges []string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .GoFiles " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct{ imports []string }
	all := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			t.Fatalf("go list line %q", line)
		}
		if testOnly(f[0], strings.Fields(f[1]), strings.Fields(f[2])) {
			continue
		}
		all[f[0]] = pkg{strings.Fields(f[1])}
	}
	for p, v := range all {
		pkgs = append(pkgs, p)
		for _, imp := range v.imports {
			if _, ok := all[imp]; ok {
				edges = append(edges, p+" "+imp)
			}
		}
	}
	return pkgs, edges
}

// TestArchitectureGraphMatchesGoList: the package graph drawn in
// docs/architecture.md has exactly the packages and imports of the code.
func TestArchitectureGraphMatchesGoList(t *testing.T) {
	nodes, docEdges := docGraph(t)
	pkgs, goEdges := goGraph(t)
	var docPkgs []string
	for _, p := range nodes {
		docPkgs = append(docPkgs, p)
	}
	diff := func(what string, want, got []string) {
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s %q is in the code but not in docs/architecture.md", what, strings.TrimPrefix(strings.ReplaceAll(w, module+"/", ""), module))
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) {
				t.Errorf("%s %q is in docs/architecture.md but not in the code", what, strings.TrimPrefix(strings.ReplaceAll(g, module+"/", ""), module))
			}
		}
	}
	diff("package", pkgs, docPkgs)
	diff("import", goEdges, docEdges)
	if len(docEdges) < 10 {
		t.Fatalf("only %d edges read from the document", len(docEdges))
	}
}
