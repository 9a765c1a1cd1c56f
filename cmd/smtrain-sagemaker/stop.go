package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/internal/cli"
)

func init() {
	commands["stop"] = cli.Command{Summary: "stop a SageMaker training job (NAME [--wait])", Run: runStop}
}

// runStop is `smtrain stop NAME [--wait]`: StopTrainingJob (SageMaker sends
// SIGTERM, then SIGKILL 120 s later); with --wait it waits until the job has
// stopped and prints the result.
func runStop(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("stop", "smtrain stop NAME [--wait] [--endpoint-url URL]", stderr)
	wait := fs.Bool("wait", false, "wait until the job has stopped and print the result")
	var wf waitFlags
	fs.BoolVar(&wf.jsonOut, "json", false, "with --wait, print the result as DescribeTrainingJob-shaped JSON")
	fs.DurationVar(&wf.poll, "poll", 5*time.Second, "first interval between status checks")
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
		fmt.Fprintln(stderr, "smtrain stop:", err)
		return cli.ExitUsage
	}
	if err := c.Stop(ctx, pos[0]); err != nil {
		fmt.Fprintln(stderr, "smtrain stop:", err)
		return cli.ExitFailed
	}
	if !*wait {
		fmt.Fprintf(stderr, "Stopping %s\n", pos[0])
		return cli.ExitCompleted
	}
	return wf.wait(ctx, c, pos[0], false, stdout, stderr, "stop")
}
