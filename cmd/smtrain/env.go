package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// runEnv is `smtrain env [--json] [--base DIR]`: the SM_* variables as
// sorted NAME=value lines, or with --json one object
// {"env": {NAME: value, ...}, "args": [...]} (compact, keys sorted, non-ASCII
// escaped as the toolkit's JSON is). The tree is DIR, else
// $SAGEMAKER_BASE_DIR, else /opt/ml.
func runEnv(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smtrain env", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, `print {"env": {...}, "args": [...]} instead of NAME=value lines`)
	base := fs.String("base", "", "base directory of the tree (default $"+env.BaseDirVar+", else "+env.DefaultBase+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: smtrain env [--json] [--base DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "smtrain env: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	var e env.Env
	var err error
	if *base != "" {
		e, err = env.LoadDir(*base)
	} else {
		e, err = env.Load()
	}
	if err != nil {
		fmt.Fprintf(stderr, "smtrain env: %v\n", err)
		return failure.ExitCode(failure.Client(err))
	}
	vars := e.Vars()
	w := bufio.NewWriterSize(stdout, 64<<10)
	if *asJSON {
		fmt.Fprintf(w, "{\"env\":%s,\"args\":%s}\n", pyjson.Dumps(vars), pyjson.Dumps(e.Args()))
	} else {
		names := make([]string, 0, len(vars))
		for k := range vars {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(w, "%s=%s\n", k, vars[k])
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "smtrain env: %v\n", err)
		return 1
	}
	return 0
}
