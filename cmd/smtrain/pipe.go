package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/channels/recordio"
	"github.com/sagemaker-go/training/channels/tfrecord"
	"github.com/sagemaker-go/training/internal/proc"
)

func runPipe(args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: smtrain pipe read --channel-dir DIR [--epoch N] [--format raw|recordio|tfrecord|lines] [--timeout D]")
		fmt.Fprintln(stderr, "       smtrain pipe serve --channel-dir DIR [--epochs N] [--record-wrapper None|RecordIO] [--compression None|Gzip] [--shuffle SEED] [--pipe-size BYTES] FILE...")
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "read":
		return pipeRead(args[1:], stdout, stderr)
	case "serve":
		return pipeServe(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage()
		return 0
	}
	fmt.Fprintf(stderr, "smtrain pipe: unknown subcommand %q\n", args[0])
	usage()
	return 2
}

// pipeRead reads one epoch of a Pipe channel the way a training program
// does (Channel.Open and a record reader) and prints what it read and how
// fast: records=N bytes=B (read from the FIFO) seconds=S MBps=X.
func pipeRead(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smtrain pipe read", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("channel-dir", "", "the channel's directory: the FIFO read is DIR_<epoch>")
	epoch := fs.Int("epoch", 0, "the epoch to read")
	format := fs.String("format", "raw", "raw, recordio, tfrecord or lines")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the FIFO and its writer")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "smtrain pipe read: --channel-dir is required, and takes no arguments")
		return 2
	}
	switch *format {
	case "raw", "recordio", "tfrecord", "lines":
	default:
		fmt.Fprintf(stderr, "smtrain pipe read: --format %q: want raw, recordio, tfrecord or lines\n", *format)
		return 2
	}
	c := channels.Channel{Name: filepath.Base(*dir), Dir: *dir, Mode: channels.Pipe}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	r, err := c.Open(ctx, *epoch)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain pipe read:", err)
		return 1
	}
	defer r.Close()
	cr := &countingReader{r: r}
	var records int
	switch *format {
	case "raw":
		records, err = countRaw(cr)
	case "recordio":
		records, err = countRecords(recordio.NewReader(cr))
	case "tfrecord":
		records, err = countRecords(tfrecord.NewReader(cr))
	case "lines":
		records, err = countRecords(channels.NewLineReader(cr))
	}
	if err != nil {
		fmt.Fprintf(stderr, "smtrain pipe read: %s: record %d: %v\n", c.FIFOPath(*epoch), records, err)
		return 1
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "records=%d bytes=%d seconds=%.3f MBps=%.1f\n", records, cr.n, secs, float64(cr.n)/secs/1e6)
	return 0
}

// countRaw reads r to its end in 1 MiB reads; each read counts as a record.
func countRaw(r io.Reader) (int, error) {
	buf := make([]byte, 1<<20)
	records := 0
	for {
		n, err := r.Read(buf)
		if n > 0 {
			records++
		}
		if err == io.EOF {
			return records, nil
		}
		if err != nil {
			return records, err
		}
	}
}

// countRecords reads every record of r, as a training loop does.
func countRecords(r interface{ Next() ([]byte, error) }) (int, error) {
	records := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return records, nil
		}
		if err != nil {
			return records, err
		}
		records++
	}
}

// pipeServe serves files through a channel's FIFOs as SageMaker does
// (channels.Feed) until the epochs are done or it is interrupted.
func pipeServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smtrain pipe serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("channel-dir", "", "the channel's directory: FIFOs are DIR_0, DIR_1, ...")
	epochs := fs.Int("epochs", 1, "epochs to serve (0: until interrupted)")
	wrapper := fs.String("record-wrapper", channels.None, "None or RecordIO (each file one record)")
	compression := fs.String("compression", channels.None, "None or Gzip (files are gunzipped)")
	shuffle := fs.Int64("shuffle", -1, "shuffle the files every epoch with this seed (-1: no shuffle)")
	pipeSize := fs.Int("pipe-size", 0, "enlarge each pipe to this many bytes (0: kernel default)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "smtrain pipe serve: --channel-dir is required")
		return 2
	}
	c := channels.Channel{Name: filepath.Base(*dir), Dir: *dir, Mode: channels.Pipe,
		RecordWrapperType: *wrapper, CompressionType: *compression}
	opts := []channels.FeedOption{channels.WithEpochs(*epochs), channels.WithPipeSize(*pipeSize)}
	if *shuffle >= 0 {
		opts = append(opts, channels.WithShuffle(uint64(*shuffle)))
	}
	ctx, stops := proc.CatchStops(context.Background())
	defer stops.Release()
	f, err := channels.Feed(ctx, c, fs.Args(), opts...)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain pipe serve:", err)
		return 1
	}
	<-f.Done()
	if err := f.Close(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "smtrain pipe serve:", err)
		return 1
	}
	return 0
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
