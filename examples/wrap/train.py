"""train.py: a training script in Python, wrapped by the train entrypoint.

Unchanged from a script written for the Python sagemaker-training-toolkit:
hyperparameters arrive as --name value arguments, paths as SM_* variables.
"""
import argparse
import os
import signal
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
args, _ = parser.parse_known_args()


def save(what):
    with open(os.path.join(args.model_dir, "model.txt"), "w") as f:
        f.write("%s after %d epochs\n" % (what, args.epochs))


def on_term(signum, frame):  # train forwards SIGTERM to the script
    save("stopped")
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
print("training for %d epochs on %s" % (args.epochs, args.train), flush=True)
save("trained")
