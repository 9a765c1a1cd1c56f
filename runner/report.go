package runner

import (
	"errors"
	"log/slog"
	"os"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
)

// report is the one failure path of Run and Exec: it writes reason to the
// failure file at path unless train or the program wrote one first, logs
// err and the exit code, and returns code.
func report(log *slog.Logger, path string, err error, reason string, code int) int {
	wrote, werr := failure.Write(path, reason)
	switch {
	case werr != nil:
		log.Error("training failed; the failure file could not be written", "err", err, "exit", code, "failure_file_err", werr)
	case wrote:
		log.Error("training failed", "err", err, "exit", code, "failure_file", path)
	default:
		log.Error("training failed; keeping the failure file already written", "err", err, "exit", code, "failure_file", path)
	}
	return code
}

// LoadEnv is env.Load for an entry point: when the tree is broken, the
// error (a ClientError unless it carries a kind) goes to output/failure
// under $SAGEMAKER_BASE_DIR (else /opt/ml) and to log, and is returned;
// failure.ExitCode gives its exit code. Run does this itself; the train
// command calls it before Exec.
func LoadEnv(log *slog.Logger) (env.Env, error) {
	e, err := env.Load()
	if err != nil {
		var fe *failure.Error
		if !errors.As(err, &fe) {
			err = failure.Client(err)
		}
		report(log, baseFailurePath(), err, err.Error(), failure.ExitCode(err))
		return env.Env{}, err
	}
	return e, nil
}

// baseFailurePath is the failure file when the environment did not load.
func baseFailurePath() string {
	base := os.Getenv(env.BaseDirVar)
	if base == "" {
		base = env.DefaultBase
	}
	return env.NewPaths(base).Failure
}
