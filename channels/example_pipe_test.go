//go:build unix

package channels_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/channels/recordio"
)

// A Pipe channel served by Feed and read epoch by epoch, one RecordIO
// record per file, as SageMaker serves RecordWrapperType "RecordIO".
func ExampleChannel_Epochs() {
	base, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(base)
	data := filepath.Join(base, "input", "data")
	var files []string
	for _, name := range []string{"a", "b"} {
		p := filepath.Join(base, name)
		os.WriteFile(p, []byte("content of "+name), 0o644)
		files = append(files, p)
	}
	c := channels.Channel{Name: "train", Dir: filepath.Join(data, "train"), Mode: channels.Pipe, RecordWrapperType: channels.RecordIO}
	feeder, err := channels.Feed(context.Background(), c, files)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer feeder.Close()

	epoch := 0
	for r, err := range c.Epochs(context.Background()) {
		if err != nil {
			fmt.Println(err)
			return
		}
		rr := recordio.NewReader(r)
		for rec, err := rr.Next(); err == nil; rec, err = rr.Next() {
			fmt.Printf("epoch %d: %s\n", epoch, rec)
		}
		if epoch++; epoch == 2 {
			break
		}
	}
	// Output:
	// epoch 0: content of a
	// epoch 0: content of b
	// epoch 1: content of a
	// epoch 1: content of b
}
