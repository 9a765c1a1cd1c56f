package channels

import "context"

// Feeder serves a Pipe-mode channel from files the way SageMaker does: one
// FIFO <Dir>_<epoch> per epoch, created after the previous one is consumed.
type Feeder struct{}

// FeedOption configures Feed.
type FeedOption func(*feedConfig)

type feedConfig struct{}

// Feed starts serving c's FIFOs from files in the background.
func Feed(ctx context.Context, c Channel, files []string, opts ...FeedOption) (*Feeder, error) {
	panic("unimplemented")
}

// Close stops the writer, removes the FIFOs and waits for it to finish.
func (f *Feeder) Close() error { panic("unimplemented") }
