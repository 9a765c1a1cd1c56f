// Package toolkit is the toolkit-style Python container: the train
// entrypoint of this module (a static binary in place of AWS's Python
// sagemaker-training-toolkit) runs code/train.py, named by
// SAGEMAKER_PROGRAM, with the toolkit's SM_* variables and arguments. run
// builds the image and runs job.json with smtrain local, as containers or
// as processes; the tests do both with two hosts.
package toolkit
