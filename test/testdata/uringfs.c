/* uringfs: file operations through io_uring only, for the io_uring tests
 * (test/uring_test.go). Written for auditlkm; same licence as the project.
 *
 *   uringfs create PATH TEXT      IORING_OP_OPENAT (O_CREAT|O_WRONLY|O_TRUNC)
 *                                 + IORING_OP_WRITE + IORING_OP_CLOSE
 *   uringfs openat DIR NAME TEXT  the same, relative to a directory fd
 *   uringfs trunc PATH TEXT       IORING_OP_OPENAT (O_WRONLY|O_TRUNC) of an
 *                                 existing file + WRITE + CLOSE
 *   uringfs trunc-hold PATH TEXT  trunc, holding the file open 1 s before
 *                                 closing it (a process that keeps it open)
 *   uringfs openat2 PATH TEXT     IORING_OP_OPENAT2 (O_CREAT|O_WRONLY) + WRITE
 *   uringfs rename OLD NEW        IORING_OP_RENAMEAT
 *   uringfs link OLD NEW          IORING_OP_LINKAT
 *   uringfs symlink TARGET LINK   IORING_OP_SYMLINKAT
 *   uringfs mkdir PATH            IORING_OP_MKDIRAT
 *   uringfs unlink PATH           IORING_OP_UNLINKAT
 *   uringfs bench PATH SECONDS    IORING_OP_OPENAT (O_RDONLY) + CLOSE of PATH
 *                                 in a loop; prints the opens per second
 *                                 (test/loadgen/uring-cost.sh)
 *
 * Nothing here makes an open, write, rename, link, symlink, mkdir or
 * unlink system call: only io_uring_setup and io_uring_enter (and opening
 * the directory for "openat", with a plain open(2) O_RDONLY|O_DIRECTORY).
 * Exit status 0 when every operation succeeded; the failing result is
 * printed otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>

static struct io_uring ring;

static int run(struct io_uring_sqe *sqe, const char *what) {
	struct io_uring_cqe *cqe;
	int ret;
	(void)sqe;
	if ((ret = io_uring_submit(&ring)) < 0) {
		fprintf(stderr, "%s: submit: %s\n", what, strerror(-ret));
		exit(2);
	}
	if ((ret = io_uring_wait_cqe(&ring, &cqe)) < 0) {
		fprintf(stderr, "%s: wait: %s\n", what, strerror(-ret));
		exit(2);
	}
	ret = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", what, strerror(-ret));
		exit(1);
	}
	return ret;
}

static int hold;

static void write_close(int fd, const char *text) {
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_write(sqe, fd, text, strlen(text), 0);
	run(sqe, "write");
	if (hold)
		sleep(1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_close(sqe, fd);
	run(sqe, "close");
}

static void open_write(int dfd, const char *path, int flags, const char *text) {
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_openat(sqe, dfd, path, flags, 0644);
	write_close(run(sqe, "openat"), text);
}

int main(int argc, char **argv) {
	struct io_uring_sqe *sqe;
	int ret;
	if (argc < 3) {
		fprintf(stderr, "usage: uringfs OP ARGS...\n");
		return 2;
	}
	if ((ret = io_uring_queue_init(8, &ring, 0)) < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 2;
	}
	const char *op = argv[1];
	if (!strcmp(op, "create") && argc == 4) {
		open_write(AT_FDCWD, argv[2], O_CREAT | O_WRONLY | O_TRUNC, argv[3]);
	} else if ((!strcmp(op, "trunc") || !strcmp(op, "trunc-hold")) && argc == 4) {
		hold = !strcmp(op, "trunc-hold");
		open_write(AT_FDCWD, argv[2], O_WRONLY | O_TRUNC, argv[3]);
	} else if (!strcmp(op, "openat") && argc == 5) {
		int dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
		if (dfd < 0) {
			perror(argv[2]);
			return 2;
		}
		open_write(dfd, argv[3], O_CREAT | O_WRONLY | O_TRUNC, argv[4]);
	} else if (!strcmp(op, "openat2") && argc == 4) {
		struct open_how how = {.flags = O_CREAT | O_WRONLY | O_TRUNC, .mode = 0644};
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_openat2(sqe, AT_FDCWD, argv[2], &how);
		write_close(run(sqe, "openat2"), argv[3]);
	} else if (!strcmp(op, "rename") && argc == 4) {
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_renameat(sqe, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 0);
		run(sqe, "renameat");
	} else if (!strcmp(op, "link") && argc == 4) {
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_linkat(sqe, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 0);
		run(sqe, "linkat");
	} else if (!strcmp(op, "symlink") && argc == 4) {
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_symlinkat(sqe, argv[2], AT_FDCWD, argv[3]);
		run(sqe, "symlinkat");
	} else if (!strcmp(op, "mkdir") && argc == 3) {
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_mkdirat(sqe, AT_FDCWD, argv[2], 0755);
		run(sqe, "mkdirat");
	} else if (!strcmp(op, "unlink") && argc == 3) {
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_unlinkat(sqe, AT_FDCWD, argv[2], 0);
		run(sqe, "unlinkat");
	} else if (!strcmp(op, "bench") && argc == 4) {
		double secs = atof(argv[3]), el = 0;
		struct timespec t0, t;
		long n = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (el < secs) {
			sqe = io_uring_get_sqe(&ring);
			io_uring_prep_openat(sqe, AT_FDCWD, argv[2], O_RDONLY, 0);
			int fd = run(sqe, "openat");
			sqe = io_uring_get_sqe(&ring);
			io_uring_prep_close(sqe, fd);
			run(sqe, "close");
			n++;
			if ((n & 255) == 0) {
				clock_gettime(CLOCK_MONOTONIC, &t);
				el = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
			}
		}
		printf("%.0f\n", n / el);
	} else {
		fprintf(stderr, "uringfs: bad arguments\n");
		return 2;
	}
	io_uring_queue_exit(&ring);
	return 0;
}
