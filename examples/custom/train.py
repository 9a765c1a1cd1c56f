#!/usr/bin/python3
"""An all-custom SageMaker training program, as in the classic "bring your
own container" example: no toolkit, no wrapper. SageMaker runs the image as
`docker run IMAGE train`; the Dockerfile puts this file at
/opt/ml/code/train, on PATH. It reads the contract itself under /opt/ml:
hyperparameters.json, resourceconfig.json and the CSV files of the train
channel; writes its model to /opt/ml/model and, when it fails, the reason to
/opt/ml/output/failure.

The model: a least-squares (ridge) fit of the first column on the others,
saved as model-<host>.json so the hosts of a job do not overwrite each
other's file in model.tar.gz.
"""
import json
import os
import socket
import sys
import traceback

import numpy as np
import pandas as pd

prefix = "/opt/ml"
config_dir = os.path.join(prefix, "input", "config")
train_dir = os.path.join(prefix, "input", "data", "train")
model_dir = os.path.join(prefix, "model")
failure_file = os.path.join(prefix, "output", "failure")


def train():
    with open(os.path.join(config_dir, "hyperparameters.json")) as f:
        hyperparameters = json.load(f)  # every value is a string
    with open(os.path.join(config_dir, "resourceconfig.json")) as f:
        resources = json.load(f)
    host = resources["current_host"]
    l2 = float(hyperparameters.get("l2", "0"))

    files = sorted(f for f in os.listdir(train_dir) if f.endswith(".csv"))
    if not files:
        raise ValueError("no CSV files in %s: the train channel is empty" % train_dir)
    data = pd.concat(pd.read_csv(os.path.join(train_dir, f), header=None) for f in files)
    y = data.iloc[:, 0].to_numpy()
    x = np.column_stack([data.iloc[:, 1:].to_numpy(), np.ones(len(data))])
    w = np.linalg.solve(x.T @ x + l2 * np.eye(x.shape[1]), x.T @ y)
    loss = float(np.mean((x @ w - y) ** 2))

    model = {
        "host": host,
        "hostname": socket.gethostname(),
        "peers": {h: socket.gethostbyname(h) for h in resources["hosts"]},
        "files": files,
        "rows": len(data),
        "hyperparameters": hyperparameters,
        "weights": [float(v) for v in w[:-1]],
        "bias": float(w[-1]),
        "loss": loss,
    }
    with open(os.path.join(model_dir, "model-%s.json" % host), "w") as f:
        json.dump(model, f, indent=2)
    print("%s: trained on %d rows of %s, loss %.6f" % (host, len(data), ", ".join(files), loss), flush=True)


if __name__ == "__main__":
    try:
        train()
    except Exception as e:
        trace = traceback.format_exc()
        with open(failure_file, "w") as f:
            f.write("Exception during training: %s\n%s" % (e, trace))
        print("Exception during training: %s\n%s" % (e, trace), file=sys.stderr)
        sys.exit(255)
