package wrap

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/sagemaker-go/training/failure"
)

// exitError reports a program (or pip) that the wrapper ran and that did not exit 0.
type exitError struct {
	Class  string   // the toolkit's error class: ExecuteUserScriptError, InstallModuleError, InstallRequirementsError
	Argv   []string // the command as run
	Code   int      // exit status, 128+signal when killed by a signal
	Signal syscall.Signal
	Killed bool   // killed by the wrapper with SIGKILL after a stop request
	Stderr string // the last lines of its stderr
}

func (e *exitError) Error() string {
	what := fmt.Sprintf("%s: %s exited with code %d", e.Class, quote(e.Argv), e.Code)
	if e.Signal != 0 {
		what = fmt.Sprintf("%s: %s was killed by %v (exit code %d)", e.Class, quote(e.Argv), e.Signal, e.Code)
	}
	return what
}

// failureReason renders e in the Python toolkit's format, with the stderr
// tail filled in, within failure.MaxLen characters.
func (e *exitError) reason() string {
	extra := ""
	switch {
	case e.Killed:
		extra = "killed by SIGKILL after a stop request: the grace period ran out, or a second signal came"
	case e.Signal == syscall.SIGKILL || e.Code == 137:
		extra = "OutOfMemory: Process killed by SIGKILL (signal 9)"
	case e.Signal != 0:
		extra = fmt.Sprintf("Process killed by %v (signal %d)", e.Signal, int(e.Signal))
	}
	return failureReason(e.Class, e.Code, e.Stderr, extra, quote(e.Argv))
}

// quote renders argv for logs and the failure file: words joined by
// spaces, a word quoted the POSIX shell way when it needs it, so the
// command can be pasted into a shell.
func quote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r))
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'"'"'`))
		b.WriteByte('\'')
	}
	return b.String()
}

// lockedWriter serializes the writes of both streams to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// maxCommand bounds the Command part of a failure reason, in characters.
const maxCommand = 300

// failureReason formats the toolkit's message (errors.py
// _CalledProcessError.__str__) within failure.MaxLen characters: the head
// and the command are kept, the stderr tail keeps its last lines.
func failureReason(class string, code int, stderr, extra, command string) string {
	if utf8.RuneCountInString(command) > maxCommand {
		r := []rune(command)
		command = string(r[:maxCommand-3]) + "..."
	}
	if stderr == "" {
		stderr = "(the program wrote nothing to stderr)"
	}
	head := class + ":\nExitCode " + strconv.Itoa(code) + "\nErrorMessage \""
	rest := "\""
	if extra != "" {
		rest += "\nExtraInfo \"" + extra + "\""
	}
	rest += "\nCommand \"" + command + "\""
	room := failure.MaxLen - utf8.RuneCountInString(head) - utf8.RuneCountInString(rest)
	if utf8.RuneCountInString(stderr) > room {
		lines := strings.Split(stderr, "\n")
		kept, n := []string(nil), 0
		for i := len(lines) - 1; i >= 0; i-- {
			l := utf8.RuneCountInString(lines[i]) + 1
			if n+l > room-4 { // room for "...\n"
				if len(kept) == 0 { // the last line alone is too long: keep its end
					r := []rune(lines[i])
					kept = []string{string(r[len(r)-(room-4):])}
				}
				break
			}
			kept = append([]string{lines[i]}, kept...)
			n += l
		}
		stderr = "...\n" + strings.Join(kept, "\n")
	}
	return head + stderr + rest
}
