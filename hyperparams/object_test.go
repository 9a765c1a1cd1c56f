package hyperparams

import "github.com/sagemaker-go/training/internal/pyjson"

// object returns the decoded values in file order, as the toolkit's
// hyperparameters dict. The caller may modify it.
func (s Set) object() *pyjson.Object {
	o := pyjson.NewObject()
	for _, k := range s.keys {
		o.Set(k, s.vals[k].decoded)
	}
	return o
}
