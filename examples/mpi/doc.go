// Package mpi is the MPI example: a C program compiled with mpicc into an
// image (code/allreduce.c) and run by train across two hosts of two ranks
// each, as SageMaker runs it with sagemaker_mpi_enabled: the first host's
// train starts mpirun, the others serve ssh until it reports the end. run
// builds the image and runs job.json with smtrain local, as containers or
// as processes. The tests run it both ways; they also run, both ways, the
// test the Python toolkit's MPI functional test runs (gather/: a shell entry
// point running python, an mpi4py gather), and a failing rank.
package mpi
