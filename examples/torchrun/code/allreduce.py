"""One worker of a torchrun launch: joins the gloo process group (CPU),
sums rank+1 over all workers with all_reduce, and writes what it saw to
rank-RANK.json in its host's model directory."""
import json
import os
import socket
import time

start = time.time_ns()

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
total = torch.tensor([float(rank + 1)])
dist.all_reduce(total)
report = {
    "rank": rank,
    "world_size": world,
    "local_rank": int(os.environ["LOCAL_RANK"]),
    "sm_current_host": os.environ["SM_CURRENT_HOST"],
    "gethostname": socket.gethostname(),
    "sum": total.item(),
    "start_ns": start,
    "end_ns": time.time_ns(),
}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "rank-%d.json" % rank), "w") as f:
    json.dump(report, f)
print("rank %d of %d on %s: all_reduce sum %g" % (rank, world, report["gethostname"], report["sum"]), flush=True)
dist.destroy_process_group()
