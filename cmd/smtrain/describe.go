package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func init() {
	commands["describe"] = command{summary: "show a SageMaker training job (NAME [--json])", run: runDescribe}
}

// runDescribe is `smtrain describe NAME [--json]`: DescribeTrainingJob's
// answer as the summary smtrain local prints, or as JSON in the shape local
// runs report. The exit code is 0 for a job running or completed, 1 failed,
// 3 stopped.
func runDescribe(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("describe", "smtrain describe NAME [--json] [--endpoint-url URL]", stderr)
	asJSON := fs.Bool("json", false, "print DescribeTrainingJob-shaped JSON")
	var af awsFlags
	af.register(fs)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := af.client(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain describe:", err)
		return exitUsage
	}
	res, err := c.Describe(ctx, pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "smtrain describe:", err)
		return exitFailed
	}
	return printResult(res, *asJSON, stdout, stderr)
}
