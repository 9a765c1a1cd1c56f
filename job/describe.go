package job

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// WriteJSON writes r as `aws sagemaker describe-training-job` (the aws
// CLI on botocore) prints DescribeTrainingJob's answer, so that a script
// written for one reads the other: the members in the API model's order,
// indented by 4, non-ASCII characters as they are, timestamps as Python's
// isoformat() in the local time zone ("2026-01-02T03:04:05.678000+00:00").
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
// does not know after them), null members left out, timestamps as Python's
// isoformat.
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
		if s, ok := isoformat(v); ok {
			return s
		}
	}
	return v
}

// isoformat writes a timestamp of the API's JSON (epoch seconds), or an
// RFC 3339 time, as botocore's parser and Python's datetime.isoformat()
// write it: datetime.fromtimestamp(t, tzlocal()), which rounds to the
// microsecond half to even, then "YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM".
func isoformat(v any) (string, bool) {
	var sec int64
	var us int64
	switch n := v.(type) {
	case int64:
		sec = n
	case *big.Int:
		return "", false
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return "", false
		}
		ip, frac := math.Modf(n)
		frac = math.RoundToEven(frac * 1e6)
		if frac >= 1e6 {
			frac -= 1e6
			ip++
		} else if frac < 0 {
			frac += 1e6
			ip--
		}
		if math.Abs(ip) > 1e12 {
			return "", false
		}
		sec, us = int64(ip), int64(frac)
	case string:
		if f, err := strconv.ParseFloat(n, 64); err == nil {
			return isoformat(f)
		}
		t, err := time.Parse(time.RFC3339Nano, n)
		if err != nil {
			return "", false
		}
		t = t.Round(time.Microsecond)
		sec, us = t.Unix(), int64(t.Nanosecond()/1000)
	default:
		return "", false
	}
	t := time.Unix(sec, us*1000).In(time.Local)
	if y := t.Year(); y < 1 || y > 9999 {
		return "", false
	}
	var b strings.Builder
	b.WriteString(t.Format("2006-01-02T15:04:05"))
	if us != 0 {
		fmt.Fprintf(&b, ".%06d", us)
	}
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	fmt.Fprintf(&b, "%c%02d:%02d", sign, off/3600, off/60%60)
	if off%60 != 0 {
		fmt.Fprintf(&b, ":%02d", off%60)
	}
	return b.String(), true
}
