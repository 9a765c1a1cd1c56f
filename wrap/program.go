package wrap

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/entry"
)

// programKind is how a program is run (the toolkit's entry point types).
type programKind int

const (
	kindCommand programKind = iota
	kindShell
	kindPythonProgram
	kindPythonPackage
)

// command resolves program to an argv, the toolkit's way (§7.1).
func (x *wrapper) command(code, program string) ([]string, programKind, error) {
	path := program
	if !filepath.IsAbs(path) {
		path = filepath.Join(code, program)
	}
	args := x.env.Args()
	if x.cfg.equalsArgs {
		args = x.env.Hyperparameters.ArgsEq()
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q (SAGEMAKER_PROGRAM or sagemaker_program): %w (code directory %s)", program, err, code)), 127)
	}
	if fi.IsDir() {
		return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q: %s is a directory, want a file", program, path)), 126)
	}
	kind := kindOf(program, exists(filepath.Join(code, "setup.py")))
	switch kind {
	case kindShell:
		return append([]string{"/bin/sh", path}, args...), kind, nil
	case kindPythonPackage, kindPythonProgram:
		py, err := exec.LookPath(x.cfg.python)
		if err != nil {
			return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q needs %s: %w", program, x.cfg.python, err)), 127)
		}
		if kind == kindPythonPackage {
			mod := strings.ReplaceAll(strings.TrimSuffix(program, ".py"), "/", ".")
			return append([]string{py, "-m", mod}, args...), kind, nil
		}
		return append([]string{py, program}, args...), kind, nil
	}
	if fi.Mode()&0o111 != 0o111 {
		inCode, _ := filepath.Rel(code, path)
		if inCode == "" || inCode == ".." || strings.HasPrefix(inCode, "../") {
			if fi.Mode()&0o111 == 0 {
				return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q: %s is not executable (mode %v)", program, path, fi.Mode().Perm())), 126)
			}
		} else if err := os.Chmod(path, fi.Mode().Perm()|0o111); err != nil {
			return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q: make executable: %w", program, err)), 126)
		}
	}
	return append([]string{path}, args...), kind, nil
}

// kindOf classifies program as the toolkit does (_entry_point_type.get),
// except that setup.py makes a package only of a .py program.
func kindOf(program string, hasSetupPy bool) programKind {
	switch {
	case strings.HasSuffix(program, ".sh"):
		return kindShell
	case strings.HasSuffix(program, ".py") && hasSetupPy:
		return kindPythonPackage
	case strings.HasSuffix(program, ".py"):
		return kindPythonProgram
	}
	return kindCommand
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// install runs pip as the toolkit does before a Python program (§7 step 3).
func (x *wrapper) install(ctx context.Context, code string, kind programKind) error {
	py, err := exec.LookPath(x.cfg.python)
	if err != nil {
		return failure.WithExitCode(failure.Client(fmt.Errorf("%s: %w", x.cfg.python, err)), 127)
	}
	argv, class := installArgv(py, kind, exists(filepath.Join(code, "requirements.txt")))
	if argv == nil {
		return nil
	}
	environ, err := x.environ()
	if err != nil {
		return failure.Client(err)
	}
	x.cfg.log.Info("installing", "command", entry.Quote(argv), "cwd", code)
	return x.spawn(ctx, class, argv, environ, code, false)
}

// installArgv is the pip command the toolkit runs before a Python
// program (modules.install, modules.install_requirements), nil for none.
func installArgv(py string, kind programKind, hasRequirements bool) ([]string, string) {
	switch {
	case kind == kindPythonPackage:
		argv := []string{py, "-m", "pip", "install", "."}
		if hasRequirements {
			argv = append(argv, "-r", "requirements.txt")
		}
		return argv, "InstallModuleError"
	case kind == kindPythonProgram && hasRequirements:
		return []string{py, "-m", "pip", "install", "-r", "requirements.txt"}, "InstallRequirementsError"
	}
	return nil, ""
}

// missingInterpreter explains why exec reports "no such file or directory"
// for a file that exists: its #! line names an interpreter that does not
// exist, often because the script has Windows line endings and the name
// ends with a carriage return ("/bin/sh\r"). It returns "" when path
// itself is missing or names no interpreter.
func missingInterpreter(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := f.Read(head)
	line, _, _ := strings.Cut(string(head[:n]), "\n")
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return ""
	}
	interp := strings.Fields(strings.TrimLeft(rest, " \t"))
	if len(interp) == 0 {
		return fmt.Sprintf("%s exists, but its #! line names no interpreter", path)
	}
	name := strings.TrimLeft(rest, " \t")
	if i := strings.IndexAny(name, " \t"); i >= 0 {
		name = name[:i]
	}
	if strings.HasSuffix(name, "\r") {
		return fmt.Sprintf("%s exists, but the interpreter on its #! line is %q, with a carriage return: the file has Windows (CRLF) line endings; convert it to LF (dos2unix, or sed -i 's/\\r$//')", path, name)
	}
	if _, err := os.Stat(name); err != nil {
		return fmt.Sprintf("%s exists, but the interpreter on its #! line, %s, does not (%v)", path, name, err)
	}
	return ""
}
