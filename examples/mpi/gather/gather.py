"""Every rank sends its rank and the world size to rank 0, which checks
that it received exactly one entry per rank, in rank order, and saves them
as result.json in the model directory."""
import json
import os

from mpi4py import MPI

world = MPI.COMM_WORLD
entry = {"rank": world.Get_rank(), "size": world.Get_size()}
gathered = world.gather(entry, root=0)

if world.Get_rank() != 0:
    assert gathered is None, gathered
else:
    expected = [{"rank": r, "size": world.Get_size()} for r in range(world.Get_size())]
    assert gathered == expected, gathered
    assert world.Get_size() == 2, world.Get_size()
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "result.json"), "w") as out:
        json.dump(gathered, out)
