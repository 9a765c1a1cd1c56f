/*
 * allreduce: an MPI program compiled into the image. Every rank writes
 * rank-RANK.json to its host's model directory (rank, size, the host it
 * sees in SM_CURRENT_HOST and through gethostname(), the sum of rank+1
 * over all ranks from MPI_Allreduce, and the wall-clock times at which it
 * started and finished, in nanoseconds) and prints a line. With
 * --fail_rank R (a hyperparameter), rank R fails with exit code 3
 * before the allreduce, the others wait in it.
 *
 * Build: mpicc -O2 -Wall -o allreduce allreduce.c
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long long start = now_ns();
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);

	int fail_rank = -1;
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--fail_rank") == 0) {
			fail_rank = atoi(argv[i + 1]);
		}
	}
	char host[256] = "";
	gethostname(host, sizeof host);
	const char *sm_host = getenv("SM_CURRENT_HOST");
	const char *model = getenv("SM_MODEL_DIR");
	if (sm_host == NULL || model == NULL) {
		fprintf(stderr, "rank %d: SM_CURRENT_HOST or SM_MODEL_DIR is not set\n", rank);
		return 2;
	}
	if (rank == fail_rank) {
		fprintf(stderr, "rank %d on %s: failing on purpose (--fail_rank %d)\n", rank, host, fail_rank);
		return 3;
	}

	long mine = rank + 1, sum = 0;
	MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);

	char path[4096];
	snprintf(path, sizeof path, "%s/rank-%d.json", model, rank);
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		return 2;
	}
	fprintf(f, "{\"rank\": %d, \"size\": %d, \"sm_current_host\": \"%s\", \"gethostname\": \"%s\", \"sum\": %ld, "
		"\"start_ns\": %lld, \"end_ns\": %lld}\n", rank, size, sm_host, host, sum, start, now_ns());
	fclose(f);
	printf("rank %d of %d on %s (SM_CURRENT_HOST %s): allreduce sum %ld\n", rank, size, host, sm_host, sum);
	MPI_Finalize();
	return 0;
}
