// SPDX-License-Identifier: GPL-2.0
/*
 * fprmem: guest-side memory workloads for the virtio_fpr tests.
 *
 *   fprmem hold MIB             touch MIB, print "held", wait for SIGTERM,
 *                               then free everything and exit
 *   fprmem frag MIB HOLE_KIB    touch MIB with small pages, free HOLE_KIB
 *                               of every 2*HOLE_KIB, print "held", wait
 *   fprmem check MIB BYTE       touch-free: allocate MIB and verify that
 *                               every byte reads BYTE before writing it
 *   fprmem churn MIB [zero|any|small [PAUSE_MS]]
 *                               allocate, touch and free MIB in a loop;
 *                               with "zero", first check that every new
 *                               page reads zero (reported pages reused);
 *                               "small": no THP (with 16 KiB pages a THP
 *                               is 32 MiB, and freed ones may stay on
 *                               the per-CPU lists, out of the core's
 *                               sight); PAUSE_MS: sleep that long after
 *                               each free
 *   fprmem verify MIB SECONDS   keep MIB of checksummed data, re-check it
 *                               every second and once more when stopped;
 *                               print bytes checked/corrupt
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define MIB (1024UL * 1024UL)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char *map(size_t len, int small_pages)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (small_pages)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static void touch(unsigned char *p, size_t len, unsigned char val)
{
	size_t i;

	for (i = 0; i < len; i += PAGE)
		memset(p + i, val, PAGE);
}

static void wait_signal(void)
{
	sigset_t none;

	sigemptyset(&none);
	while (!stop)
		sigsuspend(&none);
}

static int cmd_hold(size_t len)
{
	unsigned char *p = map(len, 0);
	double t = now();

	touch(p, len, 0x5a);
	printf("held %zu MiB in %.3f s\n", len / MIB, now() - t);
	fflush(stdout);
	wait_signal();
	munmap(p, len);
	return 0;
}

static int cmd_frag(size_t len, size_t hole)
{
	unsigned char *p = map(len, 1);
	size_t off;

	touch(p, len, 0x5a);
	for (off = 0; off + 2 * hole <= len; off += 2 * hole)
		madvise(p + off, hole, MADV_DONTNEED);
	printf("held %zu MiB with %zu KiB holes\n", len / MIB, hole / 1024);
	fflush(stdout);
	wait_signal();
	return 0;
}

static int cmd_check(size_t len, unsigned char val)
{
	unsigned char *p = map(len, 0);
	size_t i, bad = 0;

	for (i = 0; i < len; i++) {
		if (p[i] != val && bad++ < 8)
			fprintf(stderr, "offset %zu reads 0x%02x, expected 0x%02x\n",
				i, p[i], val);
	}
	printf("checked %zu bytes, %zu unexpected\n", len, bad);
	munmap(p, len);
	return bad ? 1 : 0;
}

static size_t nonzero_pages(const unsigned char *p, size_t len)
{
	size_t off, i, bad = 0;

	for (off = 0; off < len; off += PAGE) {
		const uint64_t *w = (const uint64_t *)(p + off);
		uint64_t acc = 0;

		for (i = 0; i < PAGE / sizeof(*w); i++)
			acc |= w[i];
		bad += acc != 0;
	}
	return bad;
}

static int cmd_churn(size_t len, int zero, int small,
		     unsigned long pause_ms)
{
	unsigned long rounds = 0;
	size_t bad = 0;
	double t = now();

	while (!stop) {
		unsigned char *p = map(len, small);

		if (zero)
			bad += nonzero_pages(p, len);
		touch(p, len, (unsigned char)(rounds | 1));
		munmap(p, len);
		rounds++;
		if (pause_ms)
			usleep(pause_ms * 1000);
	}
	printf("churn %lu rounds of %zu MiB, %.1f MiB/s", rounds, len / MIB,
	       rounds * (double)(len / MIB) / (now() - t));
	if (zero)
		printf(", %zu pages checked, %zu not zero", rounds * (len / PAGE),
		       bad);
	printf("\n");
	return bad ? 1 : 0;
}

static uint64_t pattern(size_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29);
}

static int cmd_verify(size_t len, unsigned int secs)
{
	uint64_t *p = (uint64_t *)map(len, 0);
	size_t i, n = len / sizeof(*p), bad = 0, checked = 0;
	unsigned int s;

	for (i = 0; i < n; i++)
		p[i] = pattern(i);
	for (s = 0; s < secs && !stop; s++) {
		sleep(1);
		for (i = 0; i < n; i++)
			bad += p[i] != pattern(i);
		checked += len;
	}
	/* Stopped (e.g. on a migration's destination): one last full pass */
	if (stop) {
		for (i = 0; i < n; i++)
			bad += p[i] != pattern(i);
		checked += len;
	}
	printf("verified %zu bytes, %zu corrupt words\n", checked, bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	size_t len;

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		goto usage;
	len = strtoul(argv[2], NULL, 0) * MIB;
	if (!strcmp(argv[1], "hold"))
		return cmd_hold(len);
	if (!strcmp(argv[1], "frag") && argc == 4)
		return cmd_frag(len, strtoul(argv[3], NULL, 0) * 1024);
	if (!strcmp(argv[1], "check") && argc == 4)
		return cmd_check(len, (unsigned char)strtoul(argv[3], NULL, 0));
	if (!strcmp(argv[1], "churn"))
		return cmd_churn(len, argc >= 4 && !strcmp(argv[3], "zero"),
				 argc >= 4 && !strcmp(argv[3], "small"),
				 argc == 5 ? strtoul(argv[4], NULL, 0) : 0);
	if (!strcmp(argv[1], "verify") && argc == 4)
		return cmd_verify(len, strtoul(argv[3], NULL, 0));
usage:
	fprintf(stderr, "usage: fprmem hold|frag|check|churn|verify MIB [ARG]\n");
	return 2;
}
