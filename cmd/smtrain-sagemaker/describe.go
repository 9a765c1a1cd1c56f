package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sagemaker-go/training/internal/cli"
)

func init() {
	commands["describe"] = cli.Command{Summary: "show a SageMaker training job (NAME [--json])", Run: runDescribe}
}

// runDescribe is `smtrain describe NAME [--json]`: DescribeTrainingJob's
// answer as the summary smtrain local prints, or as JSON in the shape local
// runs report. The exit code is 0 for a job running or completed, 1 failed,
// 3 stopped.
func runDescribe(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("describe", "smtrain describe NAME [--json] [--endpoint-url URL]", stderr)
	asJSON := fs.Bool("json", false, "print DescribeTrainingJob-shaped JSON")
	var af awsFlags
	af.register(fs)
	pos, code, ok := cli.ParseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return cli.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := af.client(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain describe:", err)
		return cli.ExitUsage
	}
	res, err := c.Describe(ctx, pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "smtrain describe:", err)
		return cli.ExitFailed
	}
	return cli.PrintResult(res, *asJSON, stdout, stderr)
}
