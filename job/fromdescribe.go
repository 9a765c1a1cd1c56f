package job

import (
	"fmt"
	"strings"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// FromDescribe returns the job that DescribeTrainingJob's answer (as the
// API sends it, or as `aws sagemaker describe-training-job` and
// `smtrain describe --json` print it) describes, as a job file that reruns
// it locally or on SageMaker: every member of the answer that is a member
// of the CreateTrainingJob request, at every depth, as the API model says;
// the answer-only members (status, times, artifacts, ARNs, metrics, ...)
// left out. Members the model does not know are left out too and listed in
// dropped: they may be newer members of either kind. Tags and
// SessionChainingConfig are not part of the answer (ListTags has the
// tags).
func FromDescribe(answer []byte) (spec Spec, dropped []string, err error) {
	v, err := pyjson.Parse(answer)
	if err != nil {
		return Spec{}, nil, fmt.Errorf("DescribeTrainingJob answer: %w", err)
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return Spec{}, nil, fmt.Errorf("DescribeTrainingJob answer: want an object, got %s", pyjson.Describe(v))
	}
	if _, ok := obj.Get("TrainingJobName"); !ok {
		return Spec{}, nil, fmt.Errorf("DescribeTrainingJob answer: no TrainingJobName")
	}
	req := requestOf(obj, apimodel.Lookup(apimodel.DescribeTrainingJobResponse), apimodel.Lookup(apimodel.CreateTrainingJobRequest), "", &dropped)
	spec, err = Parse([]byte(pyjson.Format{}.Encode(req)))
	if err != nil {
		return Spec{}, dropped, fmt.Errorf("DescribeTrainingJob answer: %w", err)
	}
	return spec, dropped, nil
}

// requestOf keeps of v (of the answer's shape ans) what the request's
// shape req has: a member whose shape is the same in both is kept whole.
func requestOf(v any, ans, req *apimodel.Shape, path string, dropped *[]string) any {
	if ans == nil || req == nil || ans.Name == req.Name || ans.Type != req.Type {
		return v
	}
	switch req.Type {
	case apimodel.Structure:
		obj, ok := v.(*pyjson.Object)
		if !ok {
			return v
		}
		out := pyjson.NewObject()
		for _, k := range obj.Keys() {
			mv, _ := obj.Get(k)
			p := strings.TrimPrefix(path+"."+k, ".")
			rs, as := req.Field(k), ans.Field(k)
			switch {
			case rs != nil:
				out.Set(k, requestOf(mv, as, rs, p, dropped))
			case as == nil:
				*dropped = append(*dropped, p)
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
			out[i] = requestOf(e, ans.Elem(), req.Elem(), fmt.Sprintf("%s[%d]", path, i), dropped)
		}
		return out
	}
	return v
}
