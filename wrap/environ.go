package wrap

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// environ is what the program gets: the whole environment, then the
// toolkit's SM_* variables, its own variables, and PYTHONPATH.
func (x *wrapper) environ() ([]string, error) {
	e := x.env
	index := map[string]int{}
	var out []string
	set := func(k, v string) {
		kv := k + "=" + v
		if i, ok := index[k]; ok {
			out[i] = kv
			return
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	vars := e.Vars()
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var bad []error
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(vars[k], 0) {
			bad = append(bad, fmt.Errorf("environment variable %q: a name must be non-empty without '=' or NUL, a value without NUL (from a hyperparameter or channel name)", k))
			continue
		}
		set(k, vars[k])
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	for k, v := range toolkitVars(e) {
		set(k, v)
	}
	pp := e.Paths.Code
	if old := os.Getenv("PYTHONPATH"); old != "" {
		pp += ":" + old
	}
	set("PYTHONPATH", pp)
	return out, nil
}

// toolkitEnviron returns the variables the Python toolkit sets in its own
// process environment, which the training program inherits besides Vars:
// SAGEMAKER_JOB_NAME (the sagemaker_job_name hyperparameter, else ""),
// CURRENT_HOST, and SAGEMAKER_REGION (the sagemaker_region hyperparameter,
// else Region; the toolkit falls back to boto3's configured region).
func toolkitEnviron(e env.Env) map[string]string {
	m := map[string]string{
		"SAGEMAKER_JOB_NAME": "",
		"CURRENT_HOST":       e.Resources.CurrentHost,
		"SAGEMAKER_REGION":   e.Region,
	}
	if v, ok := e.Framework.Value("sagemaker_job_name"); ok {
		m["SAGEMAKER_JOB_NAME"] = pyjson.EnvValue(v)
	}
	if v, ok := e.Framework.Value("sagemaker_region"); ok && pyjson.Truthy(v) {
		m["SAGEMAKER_REGION"] = pyjson.EnvValue(v)
	}
	return m
}

// toolkitVars are toolkitEnviron with useful values where the toolkit sets
// "" or asks boto3: SAGEMAKER_JOB_NAME falls back to TRAINING_JOB_NAME, and
// SAGEMAKER_REGION without a sagemaker_region hyperparameter is
// AWS_DEFAULT_REGION (boto3's default) before AWS_REGION or the job ARN's
// region.
func toolkitVars(e env.Env) map[string]string {
	vars := toolkitEnviron(e)
	if vars["SAGEMAKER_JOB_NAME"] == "" {
		vars["SAGEMAKER_JOB_NAME"] = e.JobName
	}
	if v, ok := e.Framework.Value("sagemaker_region"); !ok || v == nil || pyjson.Str(v) == "" {
		if r := os.Getenv("AWS_DEFAULT_REGION"); r != "" {
			vars["SAGEMAKER_REGION"] = r
		}
	}
	return vars
}
