package training_test

// The layering of the module, checked: which package may import which, in
// the style of the standard library's go/build/deps_test.go. A package may
// import only what the rules allow; a new package, or a new import that
// breaks the order, fails TestDependencies until the rules say where it
// belongs. The README's package table states the same order and each
// package's count of exported names (TestREADMEPackageTable).

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sagemaker-go/training"

// depsRules is the order of the module's packages, as a list of
// statements. "a, b < c, d" means c and d may import a and b, and
// everything a and b may import; chains "a < b < c" go on the same way.
// NONE stands for nothing (the standard library, which every package may
// import). Paths are relative to the module. Outside the module and the
// standard library, AWS stands for the AWS SDK and smithy-go, TESTIFY for
// testify, and golang.org/x/sys/unix for itself; a package may import one
// of those only when a rule names it directly before the package, never
// through another package's rule: so that the SDK (a minute of cold
// compile, megabytes of binary, milliseconds of start-up) stays out of
// training programs and of smtrain.
const depsRules = `
	# The standard library only.
	NONE
	< failure, metrics, internal/pyjson, internal/atomicfile, internal/s3uri, internal/submitdir,
	  internal/idlehttp, internal/apimodel, internal/cli,
	  internal/testenv, channels/internal/readbuf, channels/internal/recordtest,
	  examples/custom, examples/toolkit, examples/wrap, examples/mpi, examples/torchrun;

	NONE < golang.org/x/sys/unix, AWS, TESTIFY;

	# The contract's files, one package each, and the packages a training
	# program imports.
	internal/atomicfile < checkpoint, internal/safetar;
	channels/internal/readbuf < channels/recordio, channels/tfrecord;
	internal/pyjson, internal/atomicfile < hyperparams, resources;
	channels/recordio, channels/tfrecord, internal/atomicfile, golang.org/x/sys/unix
	< channels;
	hyperparams, channels, resources < env < env/envtest;
	internal/atomicfile, golang.org/x/sys/unix < outputsync;

	# Processes: the in-process harness and the wrapper of other programs.
	internal/atomicfile, golang.org/x/sys/unix < internal/proc;
	internal/proc, golang.org/x/sys/unix < internal/hostns;
	internal/atomicfile < internal/reclaim;
	env, failure, outputsync < internal/entry;
	internal/entry, internal/proc < runner;
	internal/entry, internal/proc, internal/s3uri, internal/safetar, golang.org/x/sys/unix
	< wrap;

	# The job description and its two backends.
	channels, hyperparams, metrics, internal/apimodel, internal/s3uri < job;
	job, internal/entry, internal/hostns, internal/reclaim, internal/safetar, internal/submitdir, golang.org/x/sys/unix < job/local;
	AWS, internal/atomicfile, internal/idlehttp, internal/s3uri < internal/s3download;
	AWS, internal/s3download, outputsync < outputsync/s3sync;
	AWS, job, outputsync/s3sync, internal/idlehttp, internal/safetar, internal/submitdir < job/sagemaker;

	# Test helpers.
	internal/testenv < job/sagemaker/mototest;
	internal/testenv, TESTIFY < internal/conformance;
	internal/apimodel, internal/pyjson < internal/apimodel/apimodeltest;
	job/local, internal/testenv, TESTIFY < internal/exampletest;

	# Programs.
	channels, checkpoint, env, failure, metrics < examples/linear/linear;
	examples/linear/linear < examples/linear/gen;
	examples/linear/linear, runner < examples/linear;
	wrap, internal/s3download, outputsync/s3sync < cmd/train;
	job/local, internal/cli, internal/apimodel < internal/localcmd;
	job, internal/cli, internal/atomicfile < internal/jobcmd;
	internal/localcmd, internal/jobcmd < cmd/smtrain;
	job/sagemaker, internal/localcmd, internal/jobcmd < cmd/smtrain-sagemaker;
`

// external maps an import outside the module and the standard library to
// its name in the rules.
func external(path string) string {
	switch {
	case strings.HasPrefix(path, "github.com/aws/"):
		return "AWS"
	case strings.HasPrefix(path, "github.com/stretchr/testify"):
		return "TESTIFY"
	}
	return path
}

// rules is depsRules parsed: for each package, what it may import
// (transitively closed) and what it may import directly among the names
// outside the module.
type rules struct {
	allowed map[string]map[string]bool
	direct  map[string]map[string]bool
	order   []string // every name, in the order the rules introduce it
}

func parseRules(text string) (*rules, error) {
	r := &rules{allowed: map[string]map[string]bool{"NONE": {}}, direct: map[string]map[string]bool{}}
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line + " ")
	}
	for stmt := range strings.SplitSeq(b.String(), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		var lists [][]string
		for part := range strings.SplitSeq(stmt, "<") {
			var names []string
			for n := range strings.SplitSeq(part, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("rule %q: an empty list", strings.Join(strings.Fields(stmt), " "))
			}
			lists = append(lists, names)
		}
		if len(lists) < 2 {
			return nil, fmt.Errorf("rule %q: want a < b", strings.Join(strings.Fields(stmt), " "))
		}
		for _, n := range lists[0] {
			if r.allowed[n] == nil {
				return nil, fmt.Errorf("rule %q: %s is used before a rule defines it", strings.Join(strings.Fields(stmt), " "), n)
			}
		}
		for i := 1; i < len(lists); i++ {
			below := map[string]bool{}
			for _, n := range lists[i-1] {
				if n != "NONE" {
					below[n] = true
				}
				for m := range r.allowed[n] {
					below[m] = true
				}
			}
			for _, n := range lists[i] {
				if r.allowed[n] != nil {
					return nil, fmt.Errorf("rule %q: %s has a rule already", strings.Join(strings.Fields(stmt), " "), n)
				}
				r.allowed[n] = below
				r.direct[n] = map[string]bool{}
				for _, d := range lists[i-1] {
					r.direct[n][d] = true
				}
				r.order = append(r.order, n)
			}
		}
	}
	return r, nil
}

// check returns one line per import that breaks the rules, for the
// packages pkgs (module-relative path → its imports, module-relative for
// the module's own packages, full paths otherwise; the standard library
// left out).
func (r *rules) check(pkgs map[string][]string) []string {
	var bad []string
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range pkgs {
			if !yield(p) {
				return
			}
		}
	}) {
		allowed := r.allowed[p]
		if allowed == nil {
			bad = append(bad, fmt.Sprintf("%s: no rule says what it may import (add it to depsRules)", p))
			continue
		}
		for _, imp := range pkgs[p] {
			name := imp
			outside := false
			if !isModule(imp) {
				name, outside = external(imp), true
			}
			switch {
			case !allowed[name]:
				bad = append(bad, fmt.Sprintf("%s imports %s, which the rules do not allow", p, imp))
			case outside && !r.direct[p][name]:
				bad = append(bad, fmt.Sprintf("%s imports %s directly: only packages whose rule names %s may", p, imp, name))
			}
		}
	}
	return bad
}

func isModule(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// modulePackages reads the imports of every package of the module from its
// source files, all build constraints included (a file for another
// platform counts too), test files excluded: module-relative path → its
// imports outside the standard library, module-relative for the module's
// own.
func modulePackages(t testing.TB) map[string][]string {
	pkgs := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if ignored(f) {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		seen := pkgs[dir]
		if seen == nil {
			seen = []string{}
		}
		for _, is := range f.Imports {
			imp, _ := strconv.Unquote(is.Path.Value)
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				imp = rel
			} else if isModule(imp) {
				continue // the standard library
			}
			if !slices.Contains(seen, imp) {
				seen = append(seen, imp)
			}
		}
		pkgs[dir] = seen
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// ignored reports a file built under no configuration (//go:build ignore).
func ignored(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() > f.Package {
			break
		}
		for _, c := range g.List {
			if constraint.IsGoBuild(c.Text) {
				if x, err := constraint.Parse(c.Text); err == nil && x.String() == "ignore" {
					return true
				}
			}
		}
	}
	return false
}

func TestDependencies(t *testing.T) {
	r, err := parseRules(depsRules)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := modulePackages(t)
	for _, p := range []string{"env", "runner", "job/sagemaker", "cmd/smtrain"} {
		if pkgs[p] == nil {
			t.Fatalf("package %s was not found: %v", p, pkgs)
		}
	}
	for _, line := range r.check(pkgs) {
		t.Error(line)
	}
	for _, n := range r.order {
		if pkgs[n] == nil && isModule(n) && n != "AWS" && n != "TESTIFY" {
			t.Errorf("depsRules names %s, which is not a package of the module", n)
		}
	}
	// The rules keep the AWS SDK out of training programs and of smtrain.
	for _, p := range []string{"runner", "wrap", "env", "env/envtest", "channels", "outputsync", "job", "job/local", "cmd/smtrain", "examples/linear"} {
		if r.allowed[p]["AWS"] {
			t.Errorf("the rules let %s depend on the AWS SDK", p)
		}
	}
}

// TestDependenciesDetectsViolations is the test of the test: a rule set
// with an edge missing, an import of the SDK through another package's
// rule, a package without a rule and a malformed rule are all reported.
func TestDependenciesDetectsViolations(t *testing.T) {
	r, err := parseRules(`NONE < AWS; NONE < a < b; AWS, a < c < d;`)
	if err != nil {
		t.Fatal(err)
	}
	got := r.check(map[string][]string{
		"a": {"b"},                     // upwards
		"b": {"a"},                     // fine
		"c": {"a", "github.com/aws/x"}, // fine: c's rule names AWS
		"d": {"github.com/aws/y", "b"}, // AWS through c's rule only; b is not below d
		"e": {},                        // no rule
	})
	want := []string{
		"a imports b, which the rules do not allow",
		"d imports github.com/aws/y directly: only packages whose rule names AWS may",
		"d imports b, which the rules do not allow",
		"e: no rule says what it may import (add it to depsRules)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("check reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []string{`a < b;`, `NONE < a; NONE < a;`, `NONE < ;`, `NONE;`} {
		if _, err := parseRules(bad); err == nil {
			t.Errorf("parseRules(%q) accepted a bad rule", bad)
		}
	}

	// The module's own rules with one edge taken out: runner may no
	// longer import internal/entry, and the check says so.
	broken := strings.Replace(depsRules, "internal/entry, internal/proc < runner;", "internal/proc < runner;", 1)
	if broken == depsRules {
		t.Fatal("the rule of runner changed: update this test")
	}
	r, err = parseRules(broken)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.check(modulePackages(t)); !slices.Contains(got, "runner imports internal/entry, which the rules do not allow") {
		t.Errorf("a broken order went unnoticed: %v", got)
	}
}

// TestREADMEPackageTable: the README's package table lists the packages in
// the order of the rules (each imports only packages on rows above it),
// every public package, and each one's count of exported names (– for an
// internal package).
func TestREADMEPackageTable(t *testing.T) {
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z0-9/._-]+)` \\| ([0-9]+|–) \\|")
	var listed []string
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	in := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "## Package map":
			in = true
		case in && strings.HasPrefix(line, "## "):
			in = false
		case in:
			if m := row.FindStringSubmatch(line); m != nil {
				listed = append(listed, m[1])
				counts[m[1]] = -1 // "–": an internal package, not counted
				if n, err := strconv.Atoi(m[2]); err == nil {
					counts[m[1]] = n
				}
			}
		}
	}
	if len(listed) == 0 {
		t.Fatal("no package rows (| `pkg` | count | ...) under ## Package map")
	}
	pkgs := modulePackages(t)
	pos := map[string]int{}
	for i, p := range listed {
		pos[p] = i
	}
	for i, p := range listed {
		imps, ok := pkgs[p]
		if !ok {
			t.Errorf("README lists %s, which is not a package of the module", p)
			continue
		}
		for _, imp := range imps {
			if j, ok := pos[imp]; ok && j > i {
				t.Errorf("README lists %s above %s, which it imports", p, imp)
			}
		}
		internal := strings.Contains(p, "internal")
		switch n := exportedNames(t, p); {
		case internal && counts[p] != -1:
			t.Errorf("README counts the names of %s: internal packages get –", p)
		case !internal && n != counts[p]:
			t.Errorf("README says %s has %d exported names, it has %d", p, counts[p], n)
		}
	}
	var missing []string
	for p := range pkgs {
		public := !strings.Contains(p, "internal") && !strings.HasPrefix(p, "examples/") && !strings.HasSuffix(p, "test")
		if _, ok := pos[p]; !ok && public {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("README's package table lacks %v", missing)
	}
}

// exportedNames counts the exported names of package dir (module-relative):
// package-level constants, variables, functions and types, and the methods
// of its exported types.
func exportedNames(t *testing.T, dir string) int {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(filepath.FromSlash(dir), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if ignored(f) {
			continue
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || receiverExported(d.Recv.List[0].Type)) {
					n++
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							n++
						}
					case *ast.ValueSpec:
						for _, id := range s.Names {
							if id.IsExported() {
								n++
							}
						}
					}
				}
			}
		}
	}
	return n
}

func receiverExported(x ast.Expr) bool {
	for {
		switch e := x.(type) {
		case *ast.StarExpr:
			x = e.X
		case *ast.IndexExpr:
			x = e.X
		case *ast.IndexListExpr:
			x = e.X
		case *ast.Ident:
			return e.IsExported()
		default:
			return false
		}
	}
}

// TestNoInternalTypesInExportedAPI: no exported identifier of a public
// package takes, returns or holds a type of an internal package (a user
// could not name it), in its signature, fields or definition, unless the
// package gives that type a public name (type URI = s3uri.URI).
func TestNoInternalTypesInExportedAPI(t *testing.T) {
	for dir := range modulePackages(t) {
		if strings.Contains(dir, "internal") || strings.HasPrefix(dir, "cmd/") || strings.HasPrefix(dir, "examples/") {
			continue
		}
		for _, line := range internalInAPI(t, dir) {
			t.Error(line)
		}
	}
}

// internalInAPI lists the exported declarations of package dir whose types
// mention a package under internal/.
func internalInAPI(t *testing.T, dir string) []string {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(filepath.FromSlash(dir), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if ignored(f) {
			continue
		}
		internal := map[string]bool{} // local names of imported internal packages
		for _, is := range f.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			if !strings.Contains(p, "/internal/") && !strings.HasSuffix(p, "/internal") {
				continue
			}
			name := filepath.Base(p)
			if is.Name != nil {
				name = is.Name.Name
			}
			internal[name] = true
		}
		if len(internal) == 0 {
			continue
		}
		mentions := func(n ast.Node) string {
			found := ""
			ast.Inspect(n, func(n ast.Node) bool {
				if s, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := s.X.(*ast.Ident); ok && internal[id.Name] && found == "" {
						found = id.Name + "." + s.Sel.Name
					}
				}
				return found == ""
			})
			return found
		}
		report := func(what string, n ast.Node) {
			if m := mentions(n); m != "" {
				bad = append(bad, fmt.Sprintf("%s: %s uses %s", fset.Position(n.Pos()), what, m))
			}
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || receiverExported(d.Recv.List[0].Type)) {
					report(d.Name.Name, d.Type)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() || s.Assign.IsValid() {
							continue // an alias gives an internal type a public name
						}
						switch ty := s.Type.(type) {
						case *ast.StructType:
							for _, fld := range ty.Fields.List {
								exported := len(fld.Names) == 0
								for _, n := range fld.Names {
									exported = exported || n.IsExported()
								}
								if exported {
									report(s.Name.Name+" field", fld.Type)
								}
							}
						case *ast.InterfaceType:
							report(s.Name.Name, ty)
						default:
							report(s.Name.Name, ty)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && s.Type != nil {
								report(n.Name, s.Type)
							}
						}
					}
				}
			}
		}
	}
	return bad
}
