// Package wrap shows how to wrap a program not written in Go (algo/algo.c, a C
// program; train.py, a Python script) with the train entrypoint, in an
// image that SageMaker runs as `docker run IMAGE train`. See Dockerfile and
// Dockerfile.python; the test builds the C variant FROM scratch and runs it
// the way SageMaker does.
package wrap
