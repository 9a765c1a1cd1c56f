#!/usr/bin/env bash
# The entry point of the gather test: a shell script that runs a Python
# program by the name "python", as many MPI jobs' entry points do. Each rank
# runs it.
set -eu
exec python gather.py
