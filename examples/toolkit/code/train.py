"""A training script for a toolkit-style container, unchanged from one
written for AWS's Python sagemaker-training-toolkit: hyperparameters arrive
as --name value arguments, the contract as SM_* variables. The image runs
the train entrypoint of this module (a static binary in place of the
toolkit), which finds this script through SAGEMAKER_PROGRAM.

The model: linear regression of the first CSV column on the others by
stochastic gradient descent, in plain Python, saved as model-<host>.json.
"""
import argparse
import csv
import json
import os
import random
import signal
import socket
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--learning-rate", "--learning_rate", type=float, default=0.05)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
args, unknown = parser.parse_known_args()

host = os.environ["SM_CURRENT_HOST"]
hosts = json.loads(os.environ["SM_HOSTS"])
stopped = False


def on_term(signum, frame):  # train forwards SIGTERM (StopTrainingJob, spot)
    global stopped
    stopped = True


signal.signal(signal.SIGTERM, on_term)

files = sorted(f for f in os.listdir(args.train) if f.endswith(".csv"))
rows = []
for name in files:
    with open(os.path.join(args.train, name), newline="") as f:
        rows += [[float(v) for v in row] for row in csv.reader(f) if row]
if not rows:
    sys.exit("no CSV rows in %s: the train channel is empty" % args.train)

rng = random.Random(args.seed)
w = [0.0] * (len(rows[0]) - 1)
b = 0.0
for epoch in range(args.epochs):
    if stopped:
        break
    rng.shuffle(rows)
    loss = 0.0
    for y, *x in rows:
        err = sum(wi * xi for wi, xi in zip(w, x)) + b - y
        loss += err * err
        w = [wi - args.learning_rate * err * xi for wi, xi in zip(w, x)]
        b -= args.learning_rate * err
    print("#metric train:loss=%g; step=%d;" % (loss / len(rows), epoch + 1), flush=True)

model = {
    "host": host,
    "hostname": socket.gethostname(),
    "peers": {h: socket.gethostbyname(h) for h in hosts},
    "files": files,
    "rows": len(rows),
    "epochs": args.epochs,
    "learning_rate": args.learning_rate,
    "stopped": stopped,
    "weights": w,
    "bias": b,
    "hyperparameters": json.loads(os.environ["SM_HPS"]),
}
with open(os.path.join(args.model_dir, "model-%s.json" % host), "w") as f:
    json.dump(model, f, indent=2)
print("%s: trained on %d rows of %s" % (host, len(rows), ", ".join(files)), flush=True)
