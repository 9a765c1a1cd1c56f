// Package entry is what the two entry points of a training image share,
// runner.Run for a Go program and wrap.Main for any other: loading the
// contract with its failure reported, the logger, and the one failure path.
package entry

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
)

// LogFormatVar names the variable that selects the log format: "json" for
// slog's JSON handler, anything else for text.
const LogFormatVar = "SMTRAIN_LOG_FORMAT"

// Handler is the log handler of an entry point: text on w, or JSON when
// $SMTRAIN_LOG_FORMAT is "json", at level.
func Handler(w io.Writer, level slog.Leveler) slog.Handler {
	ho := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(os.Getenv(LogFormatVar), "json") {
		return slog.NewJSONHandler(w, ho)
	}
	return slog.NewTextHandler(w, ho)
}

// SlogLevel maps a Python logging level, as in
// sagemaker_container_log_level (10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR,
// 50 CRITICAL), onto slog's scale (-4 debug, 0 info, 4 warn, 8 error, 12),
// values between included: 25 shows warnings, not information, as in
// Python. 0 (Python's NOTSET) shows everything.
func SlogLevel(py int) slog.Level { return slog.Level((py - 20) * 4 / 10) }

// The status files follow SageMaker's rule: the exit code decides (0
// Completed, anything else Failed), and a job ends with exactly one of
// output/success and output/failure, the one that matches. A failure file
// the program wrote before exiting 0 has no effect on SageMaker (no
// FailureReason for a Completed job): Succeed logs its text and removes
// it. A success file the program wrote before failing is removed by
// Report.

// Report is the one failure path of the entry points: it writes reason to
// the failure file at path unless the program wrote one first, removes a
// success file beside it, logs err and the exit code, and returns code.
func Report(log *slog.Logger, path string, err error, reason string, code int) int {
	success := filepath.Join(filepath.Dir(path), "success")
	if rerr := os.Remove(success); rerr == nil {
		log.Warn("the program wrote a success file but failed: removed it (the exit code decides, as on SageMaker)", "success_file", success)
	}
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

// Succeed is the one success path of the entry points: it writes the
// success file and removes a failure file the program wrote (logging its
// text), and returns the exit code, 0, or 3 when the success file cannot
// be written.
func Succeed(log *slog.Logger, p env.Paths) int {
	if text, err := os.ReadFile(p.Failure); err == nil {
		if rerr := os.Remove(p.Failure); rerr != nil {
			log.Error("the program exited 0 but wrote a failure file, which cannot be removed", "failure_file", p.Failure, "err", rerr)
		} else {
			log.Warn("the program exited 0 but wrote a failure file: removed it (the exit code decides, as on SageMaker)",
				"failure_file", p.Failure, "text", failure.Truncate(strings.TrimSpace(string(text))))
		}
	}
	if err := failure.WriteSuccess(p.Success); err != nil {
		err = failure.Platform(fmt.Errorf("write success file: %w", err))
		log.Error("training succeeded but the success file was not written", "err", err)
		return failure.ExitCode(err)
	}
	return 0
}

// LoadEnv is env.Load for an entry point: when the tree is broken, the
// error (a ClientError unless it carries a kind) goes to output/failure
// under $SAGEMAKER_BASE_DIR (else /opt/ml) and to log, and is returned;
// failure.ExitCode gives its exit code.
func LoadEnv(log *slog.Logger) (env.Env, error) {
	e, err := env.Load()
	if err != nil {
		var fe *failure.Error
		if !errors.As(err, &fe) {
			err = failure.Client(err)
		}
		Report(log, BaseFailurePath(), err, err.Error(), failure.ExitCode(err))
		return env.Env{}, err
	}
	return e, nil
}

// BaseFailurePath is the failure file when the environment did not load.
func BaseFailurePath() string {
	base := os.Getenv(env.BaseDirVar)
	if base == "" {
		base = env.DefaultBase
	}
	return env.NewPaths(base).Failure
}
