// Package custom is the all-custom Python container of the classic "bring
// your own container" example: train.py reads /opt/ml itself (no toolkit)
// and is the image's train, on PATH in /opt/ml/code. run builds the image
// on Debian's python3 and pandas and runs job.json with smtrain local, as
// containers or as processes; the tests do both with two hosts.
package custom
