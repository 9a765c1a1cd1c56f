/*
 * algo: a training program in C, wrapped by the train entrypoint.
 *
 * It gets what the Python toolkit gives a program: hyperparameters as
 * "--name value" arguments, and the contract's paths as SM_* variables
 * (SM_MODEL_DIR, SM_CHANNEL_<NAME>, SM_OUTPUT_DATA_DIR, ...). On SIGTERM
 * (a stopped job, a spot interruption) it saves what it has and exits 0;
 * train forwards the signal to it. Built static, it runs in an image
 * FROM scratch.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

static void save(const char *what, long epochs) {
	char path[4096];
	snprintf(path, sizeof path, "%s/model.txt", getenv("SM_MODEL_DIR"));
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fprintf(f, "%s after %ld epochs\n", what, epochs);
	fclose(f);
}

int main(int argc, char **argv) {
	long epochs = 1;
	int fail = 0, wait_for_stop = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--epochs")) epochs = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--fail")) fail = !strcmp(argv[i + 1], "True");
		else if (!strcmp(argv[i], "--wait_for_stop")) wait_for_stop = !strcmp(argv[i + 1], "True");
		else fprintf(stderr, "ignoring unknown hyperparameter %s\n", argv[i]);
	}
	signal(SIGTERM, on_term);
	printf("training for %ld epochs on %s\n", epochs, getenv("SM_CHANNEL_TRAIN") ? getenv("SM_CHANNEL_TRAIN") : "(no train channel)");
	fflush(stdout);
	if (fail) {
		fprintf(stderr, "algo: diverged at epoch 1 (loss is NaN)\n");
		return 3;
	}
	if (wait_for_stop) {
		puts("ready");
		fflush(stdout);
		while (!stop) pause();
		save("stopped", 0);
		return 0;
	}
	save("trained", epochs);
	return 0;
}
