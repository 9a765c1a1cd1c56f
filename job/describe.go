package job

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// WriteJSON writes r as `aws sagemaker describe-training-job` (the aws
// CLI on botocore) prints DescribeTrainingJob's answer, so that a script
// written for one reads the other: the members in the API model's order,
// indented by 4, non-ASCII characters as they are, timestamps as the API
// sends them, seconds since the epoch (1767323045.678), which is what the
// aws CLI v1 prints unless its cli_timestamp_format says otherwise.
//
// A job on SageMaker prints its answer as SageMaker sent it (Answer). A
// local run prints its fields, the members of its request that
// DescribeTrainingJob echoes (Request), and, after them, what only a local
// run has: ExitCodes, LocalArtifactsDir and OutputDataS3Uri. Members the
// model does not know are printed after the others, unchanged.
func (r Result) WriteJSON(w io.Writer) error {
	tree, err := describeTree(r)
	if err != nil {
		return err
	}
	v := cliValue(tree, apimodel.Lookup(apimodel.DescribeTrainingJobResponse))
	_, err = io.WriteString(w, pyjson.Format{Indent: 4}.Encode(v)+"\n")
	return err
}

func describeTree(r Result) (*pyjson.Object, error) {
	if len(r.Answer) > 0 {
		v, err := pyjson.Parse(r.Answer)
		if err != nil {
			return nil, fmt.Errorf("DescribeTrainingJob's answer: %w", err)
		}
		obj, ok := v.(*pyjson.Object)
		if !ok {
			return nil, fmt.Errorf("DescribeTrainingJob's answer: want an object, got %s", pyjson.Describe(v))
		}
		return obj, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	v, err := pyjson.Parse(b)
	if err != nil {
		return nil, err
	}
	obj := v.(*pyjson.Object)
	if len(r.Request) > 0 {
		rv, err := pyjson.Parse(r.Request)
		if err != nil {
			return nil, fmt.Errorf("the job's request: %w", err)
		}
		req, _ := rv.(*pyjson.Object)
		answer := apimodel.Lookup(apimodel.DescribeTrainingJobResponse)
		for _, k := range req.Keys() {
			if _, set := obj.Get(k); !set && answer.Field(k) != nil {
				mv, _ := req.Get(k)
				obj.Set(k, mv)
			}
		}
	}
	return obj, nil
}

// cliValue is v as botocore parses it for shape sh (nil for a value the
// model does not know): structure members in the model's order (those it
// does not know after them), null members left out, timestamps as epoch
// seconds.
func cliValue(v any, sh *apimodel.Shape) any {
	if sh == nil {
		return v
	}
	switch sh.Type {
	case apimodel.Structure:
		obj, ok := v.(*pyjson.Object)
		if !ok {
			return v
		}
		out := pyjson.NewObject()
		for _, m := range sh.Members {
			if mv, ok := obj.Get(m.Name); ok && mv != nil {
				out.Set(m.Name, cliValue(mv, apimodel.Lookup(m.Shape)))
			}
		}
		for _, k := range obj.Keys() {
			if sh.Field(k) == nil {
				mv, _ := obj.Get(k)
				out.Set(k, mv)
			}
		}
		return out
	case apimodel.List:
		l, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = cliValue(e, sh.Elem())
		}
		return out
	case apimodel.Map:
		obj, ok := v.(*pyjson.Object)
		if !ok {
			return v
		}
		out := pyjson.NewObject()
		for _, k := range obj.Keys() {
			mv, _ := obj.Get(k)
			out.Set(k, cliValue(mv, sh.Elem()))
		}
		return out
	case apimodel.Timestamp:
		if n, ok := epochSeconds(v); ok {
			return n
		}
	}
	return v
}

// epochSeconds writes an RFC 3339 time (a local result's) as the API's
// JSON writes timestamps, seconds since the epoch with milliseconds; a
// number is kept as it is, as the aws CLI (v1) prints it.
func epochSeconds(v any) (any, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, false
	}
	ms := t.Round(time.Millisecond).UnixMilli()
	if ms%1000 == 0 {
		return ms / 1000, true
	}
	return float64(ms) / 1000, true
}
