// Package torchrun is the torchrun example: code/allreduce.py joins a gloo
// process group and all-reduces across two hosts of two workers each, as
// the PyTorch toolkit's torch_distributed option runs it (every host's
// train starts torchrun). run builds the image on Debian's PyTorch (CPU)
// and runs job.json with smtrain local, as containers or as processes; the
// tests do both.
//
// The job files set PET_REDIRECTS and PET_TEE (torchrun's --redirects and
// --tee) to "9:0", a mapping that names no worker of a host with fewer than
// ten: Debian's PyTorch 1.13 on Python 3.11 cannot read their default, "0"
// (Std.from_str returns None, and torchrun fails before it starts a worker;
// PyTorch 2 reads it).
package torchrun
