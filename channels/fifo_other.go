//go:build !unix

package channels

import (
	"context"
	"os"
)

const fifosSupported = false

func openFIFO(ctx context.Context, path string) (*os.File, error) { return nil, pipeUnsupported() }

func (f *Feeder) epoch(epoch int, files []string, buf []byte) error { return pipeUnsupported() }
