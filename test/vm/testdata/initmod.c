/* initmod: load a module with init_module(2) (not finit_module), the way
 * a loader that never leaves a file descriptor behind does: the image is
 * read into memory and handed to the kernel with the parameter string.
 *
 *   initmod FILE [PARAMS]
 *
 * Built static by the VM tests (test/vm) and run in the guest. Exits 0 on
 * success, 1 with the error otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: initmod FILE [PARAMS]\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(argv[1]);
		return 1;
	}
	char *buf = malloc(st.st_size > 0 ? st.st_size : 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		fprintf(stderr, "%s: short read\n", argv[1]);
		return 1;
	}
	if (syscall(SYS_init_module, buf, got, argc > 2 ? argv[2] : "") != 0) {
		fprintf(stderr, "init_module %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	printf("init_module %s: loaded\n", argv[1]);
	return 0;
}
