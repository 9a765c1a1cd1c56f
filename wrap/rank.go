package wrap

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/internal/atomicfile"
)

// A rank started by mpirun on another host inherits the environment of an
// ssh session, with the variables mpirun forwards (-x): the Python toolkit
// forwards every SM_* variable with the leader's values, so every rank
// believes it runs on the leader (SM_CURRENT_HOST, SM_RESOURCE_CONFIG, ...).
// Instead, every host's train writes the environment its program would get
// to rankEnvFile under its own /opt/ml, and mpirun runs each rank as
// "train exec-rank PROGRAM ARGS": on the rank's host, that takes the
// host's own variables from the file and runs the program.

// execRankArg is the argument that makes train run one rank of a
// distributed launch instead of the wrapped program.
const execRankArg = "exec-rank"

// rankEnvFile is where a host's train writes its program's environment,
// relative to the base directory.
const rankEnvFile = ".smtrain/rank-environ"

// hostOwned reports whether name is a variable each host derives from its
// own /opt/ml tree: those come from the rank's host even when mpirun has
// forwarded a value.
func hostOwned(name string) bool {
	if strings.HasPrefix(name, "SM_") {
		return true
	}
	switch name {
	case "CURRENT_HOST", "SAGEMAKER_JOB_NAME", "SAGEMAKER_REGION", "PYTHONPATH", env.BaseDirVar:
		return true
	}
	return false
}

// writeRankEnv writes environ (NAME=value entries) as the host's rank
// environment: NUL-separated, as /proc/PID/environ, readable by its
// owner only (it may hold credentials).
func writeRankEnv(base string, environ []string) error {
	path := filepath.Join(base, rankEnvFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b bytes.Buffer
	for _, kv := range environ {
		b.WriteString(kv)
		b.WriteByte(0)
	}
	return atomicfile.Write(path, b.Bytes(), 0o600)
}

// rankEnviron merges a rank's environment: the host's file decides the
// host-owned variables and adds what the session lacks; everything else
// is as mpirun and orted set it (OMPI_*, -x variables).
func rankEnviron(session []string, file []byte) []string {
	out := make([]string, 0, len(session)+64)
	index := map[string]int{}
	for _, kv := range session {
		k, _, _ := strings.Cut(kv, "=")
		if hostOwned(k) {
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range bytes.Split(file, []byte{0}) {
		if len(kv) == 0 {
			continue
		}
		k, _, _ := strings.Cut(string(kv), "=")
		if _, ok := index[k]; ok && !hostOwned(k) {
			continue
		}
		index[k] = len(out)
		out = append(out, string(kv))
	}
	return out
}

// execRank runs one rank: it reads the rank environment of this host
// ($SAGEMAKER_BASE_DIR, else /opt/ml) and executes argv with it. It
// returns only on an error (exit 127 for a program or file not found, 126
// otherwise), which it writes to stderr, where mpirun collects it.
func (c *config) execRank(argv []string) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(c.stderr, "train exec-rank: "+format+"\n", args...)
		return code
	}
	if len(argv) == 0 {
		return fail(2, "no program given (usage: train exec-rank PROGRAM [ARGS...])")
	}
	base := os.Getenv(env.BaseDirVar)
	if base == "" {
		base = env.DefaultBase
	}
	path := filepath.Join(base, rankEnvFile)
	file, err := os.ReadFile(path)
	if err != nil {
		return fail(127, "the environment of this host: %v (written by this host's train before the launch)", err)
	}
	environ := rankEnviron(os.Environ(), file)
	prog := argv[0]
	if !strings.Contains(prog, "/") {
		if prog, err = lookPath(prog, environ); err != nil {
			return fail(127, "%v", err)
		}
	}
	err = syscall.Exec(prog, argv, environ)
	code := 126
	if os.IsNotExist(err) {
		code = 127
	}
	return fail(code, "run %s: %v", prog, err)
}

// lookPath finds a command on the PATH of environ.
func lookPath(name string, environ []string) (string, error) {
	path := ""
	if i := slices.IndexFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }); i >= 0 {
		path = environ[i][len("PATH="):]
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}
