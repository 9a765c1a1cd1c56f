package entry

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxCommand bounds the Command part of a failure reason, in characters.
const maxCommand = 300

// FailureReason formats a program's failure as the Python toolkit does
// (errors.py _CalledProcessError.__str__):
//
//	CLASS:
//	ExitCode N
//	ErrorMessage "the last lines of stderr"
//	ExtraInfo "extra"            (only when extra is not empty)
//	Command "command"
//
// within limit characters: the head and the command are kept, the stderr
// tail keeps its last lines. train writes it to the failure file; the
// local backend puts it in FailureReason for a host that wrote none.
func FailureReason(class string, code int, stderr, extra, command string, limit int) string {
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
	room := limit - utf8.RuneCountInString(head) - utf8.RuneCountInString(rest)
	if utf8.RuneCountInString(stderr) > room {
		lines := strings.Split(stderr, "\n")
		kept, n := []string(nil), 0
		for i := len(lines) - 1; i >= 0; i-- {
			l := utf8.RuneCountInString(lines[i]) + 1
			if n+l > room-4 { // room for "...\n"
				if len(kept) == 0 { // the last line alone is too long: keep its end
					r := []rune(lines[i])
					kept = []string{string(r[len(r)-max(room-4, 0):])}
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

// Quote renders argv for logs and failure reasons: words joined by
// spaces, a word quoted the POSIX shell way when it needs it, so the
// command can be pasted into a shell.
func Quote(argv []string) string {
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
