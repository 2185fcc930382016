/* atwrite DIR NAME TEXT: open DIR, then create NAME relative to that
 * directory fd with openat(2) and write TEXT, so the audit records name
 * the file only relative to the fd (test/dirswap_test.go). Written for
 * auditlkm; same licence as the project. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: atwrite DIR NAME TEXT\n");
		return 2;
	}
	int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		perror(argv[1]);
		return 1;
	}
	int fd = openat(dfd, argv[2], O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	size_t n = strlen(argv[3]);
	if (write(fd, argv[3], n) != (ssize_t)n) {
		perror("write");
		return 1;
	}
	return close(fd) != 0;
}
