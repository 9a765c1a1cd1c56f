/*
 * libsmtrain-gethostname.so: gethostname() and uname() give this host's
 * SageMaker name (algo-N, from SM_CURRENT_HOST) instead of the kernel's.
 *
 * On SageMaker a container's kernel hostname is not algo-N, and MPI, NCCL
 * and the frameworks group ranks by gethostname(): with the kernel's name
 * the hosts do not match mpirun's host list. train's mpirun preloads this
 * library into every rank (-x LD_PRELOAD) when the image has it at
 * /usr/local/lib/libsmtrain-gethostname.so, and train gives every rank its
 * own host's SM_CURRENT_HOST. Where SM_CURRENT_HOST is unset or empty
 * both calls are libc's. It writes nothing to stdout and reads no file.
 *
 * Build: gcc -shared -fPIC -O2 -Wall -o libsmtrain-gethostname.so gethostname.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *sagemaker_host(void)
{
	const char *h = getenv("SM_CURRENT_HOST");
	return h != NULL && h[0] != '\0' ? h : NULL;
}

int gethostname(char *name, size_t len)
{
	const char *h = sagemaker_host();
	if (h == NULL) {
		int (*real)(char *, size_t) = (int (*)(char *, size_t))dlsym(RTLD_NEXT, "gethostname");
		if (real == NULL) {
			errno = ENOSYS;
			return -1;
		}
		return real(name, len);
	}
	size_t n = strlen(h);
	if (n + 1 > len) {
		/* As glibc: the name truncated to len bytes, ENAMETOOLONG. */
		memcpy(name, h, len);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(name, h, n + 1);
	return 0;
}

int uname(struct utsname *buf)
{
	int (*real)(struct utsname *) = (int (*)(struct utsname *))dlsym(RTLD_NEXT, "uname");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	int r = real(buf);
	const char *h = sagemaker_host();
	if (r == 0 && h != NULL) {
		strncpy(buf->nodename, h, sizeof buf->nodename - 1);
		buf->nodename[sizeof buf->nodename - 1] = '\0';
	}
	return r;
}
