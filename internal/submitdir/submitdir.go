// Package submitdir reads and rewrites the sagemaker_submit_directory
// hyperparameter of a job: JSON-quoted as the SageMaker SDK's estimators
// write it ("\"s3://b/k/sourcedir.tar.gz\""), or plain as a hand-written
// job file may have it. Both backends rewrite it where the code goes (the
// local one to /opt/ml/code, submit to its upload), keeping its form.
package submitdir

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Key is the hyperparameter naming the program's code.
const Key = "sagemaker_submit_directory"

// Value is the hyperparameter decoded: the URI it names, and whether it
// was JSON-quoted.
type Value struct {
	URI    string
	Quoted bool
}

// Get returns the job's sagemaker_submit_directory; ok is false when the
// hyperparameters have none. A value that starts with a quote and is not a
// JSON string is an error naming the key.
func Get(hps map[string]string) (v Value, ok bool, err error) {
	raw, ok := hps[Key]
	if !ok {
		return Value{}, false, nil
	}
	v.URI = raw
	if strings.HasPrefix(raw, `"`) {
		if err := json.Unmarshal([]byte(raw), &v.URI); err != nil {
			return Value{}, true, fmt.Errorf("HyperParameters.%s: %q: a JSON string that does not parse: %w", Key, raw, err)
		}
		v.Quoted = true
	}
	return v, true, nil
}

// Encode is the hyperparameter naming uri, in v's form.
func (v Value) Encode(uri string) string {
	if !v.Quoted {
		return uri
	}
	b, _ := json.Marshal(uri)
	return string(b)
}
