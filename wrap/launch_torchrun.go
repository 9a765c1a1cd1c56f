package wrap

import (
	"context"
	"os"
	"strings"
)

// launchTorchrun runs the program under torchrun on this host, as every
// host of the launch does: the PyTorch toolkit's torch_distributed
// option, with its environment (where the job's own environment does not
// set a variable already). A failing torchrun fails the job (the toolkit
// can report it as a success: its runner's run takes wait and
// capture_error in swapped order).
func (x *wrapper) launchTorchrun(ctx context.Context, l launch, program []string, pk programKind, environ []string, code string) error {
	prog, err := launchedProgram(l.kind, pk, program)
	if err != nil {
		return err
	}
	argv := torchrunArgv(l, torchrunCommand(program[0]), os.Getenv(neuronCompileVar) == "1", prog)
	set := map[string]bool{}
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	for _, kv := range torchrunEnv(l) {
		if !set[kv[0]] {
			environ = append(environ, kv[0]+"="+kv[1])
		}
	}
	x.cfg.log.Info("Invoking user script", "command", boundedCommand(argv), "cwd", code, "launcher", "torchrun", "node_rank", l.current)
	return x.spawn(ctx, "ExecuteUserScriptError", argv, environ, code, true)
}
