// SPDX-License-Identifier: GPL-2.0
/*
 * A tiny user program for the uprobe tests (built for the host): calls
 * bpftui_probe_me() argv[1] times, then exits.
 */
#include <stdlib.h>

__attribute__((noinline)) int bpftui_probe_me(int value)
{
	__asm__ volatile("" ::: "memory");
	return value + 1;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 1;
	int total = 0;

	for (int i = 0; i < rounds; i++)
		total += bpftui_probe_me(i);
	return total == -1;
}
