package channels_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/sagemaker-go/training/channels"
)

func ExampleParse() {
	set, err := channels.Parse([]byte(`{"train":{"TrainingInputMode":"Pipe","S3DistributionType":"FullyReplicated","RecordWrapperType":"None"}}`), "/opt/ml/input/data")
	if err != nil {
		fmt.Println(err)
		return
	}
	c := set["train"]
	fmt.Println(c.Mode, c.FIFOPath(0))

	_, err = channels.Parse([]byte(`{"train":{"TrainingInputMode":"Stream"}}`), "/opt/ml/input/data")
	fmt.Println(err)
	// Output:
	// Pipe /opt/ml/input/data/train_0
	// inputdataconfig.json: channel "train": "TrainingInputMode": want one of ["File" "FastFile" "Pipe"], got "Stream"
}

func ExampleLineReader() {
	r := channels.NewLineReader(strings.NewReader("a,1\r\nb,2\nc,3"))
	for {
		line, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "a,1"
	// "b,2"
	// "c,3"
}
