/* lkmcall: make the kernel-module, kexec and bpf system calls directly,
 * without any tool, so the detections see callers that are not kmod.
 * Built by the tests and test/record-detections.sh (never committed as a
 * binary); with -m32 it makes the calls through the 32-bit ABI.
 *
 *   lkmcall finit [FILE [HOLD_MS]] | init FILE | delete NAME | kexec | bpf
 *
 * It prints the result and exits 0 whatever the kernel answered: the
 * attempt is what gets audited. finit with HOLD_MS keeps the process (and
 * the fd it gave finit_module) alive that long after the call, as a loader
 * that does not exit at once; a negative HOLD_MS closes the fd first. finit
 * without FILE gives it fd 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_finit_module
#error "no finit_module"
#endif

struct insn { uint8_t code; uint8_t regs; int16_t off; int32_t imm; };

int main(int argc, char **argv) {
	long r = -1;
	if (argc < 2) {
		fprintf(stderr, "usage: lkmcall finit [FILE [HOLD_MS]]|init FILE|delete NAME|kexec|bpf\n");
		return 2;
	}
	if (!strcmp(argv[1], "finit")) {
		int fd = argc > 2 ? open(argv[2], O_RDONLY) : 0;
		r = syscall(SYS_finit_module, fd, "", 0);
		if (argc > 3) {
			int e = errno, hold = atoi(argv[3]);
			if (hold < 0) {
				close(fd);
				hold = -hold;
			}
			usleep((useconds_t)hold * 1000);
			errno = e;
		}
	} else if (!strcmp(argv[1], "init") && argc > 2) {
		static char buf[4096];
		int fd = open(argv[2], O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : 0;
		r = syscall(SYS_init_module, buf, (unsigned long)(n > 0 ? n : 0), "");
	} else if (!strcmp(argv[1], "delete") && argc > 2) {
		r = syscall(SYS_delete_module, argv[2], O_NONBLOCK);
	} else if (!strcmp(argv[1], "kexec")) {
		r = syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL);
	} else if (!strcmp(argv[1], "bpf")) {
		/* BPF_PROG_LOAD of a socket filter "r0 = 0; exit". */
		struct insn prog[2] = {{0xb7, 0, 0, 0}, {0x95, 0, 0, 0}};
		uint64_t attr[16];
		memset(attr, 0, sizeof attr);
		uint32_t *a = (uint32_t *)attr;
		a[0] = 1;                                  /* prog_type: socket filter */
		a[1] = 2;                                  /* insn_cnt */
		attr[1] = (uint64_t)(uintptr_t)prog;       /* insns */
		attr[2] = (uint64_t)(uintptr_t)"GPL";      /* license */
		r = syscall(SYS_bpf, 5, attr, sizeof attr);
	} else {
		fprintf(stderr, "lkmcall: unknown call %s\n", argv[1]);
		return 2;
	}
	printf("%s: %ld (%s)\n", argv[1], r, r < 0 ? strerror(errno) : "ok");
	return 0;
}
