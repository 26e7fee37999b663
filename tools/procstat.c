/* SPDX-License-Identifier: MIT */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static long count_entries(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

void procstat_read(struct procstat *ps)
{
	ps->rss_kib = ps->hwm_kib = -1;
	FILE *f = fopen("/proc/self/status", "re");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "VmRSS:", 6) == 0)
				sscanf(line + 6, "%ld", &ps->rss_kib);
			else if (strncmp(line, "VmHWM:", 6) == 0)
				sscanf(line + 6, "%ld", &ps->hwm_kib);
		}
		fclose(f);
	}
	ps->threads = count_entries("/proc/self/task");
	long fds = count_entries("/proc/self/fd");
	ps->fds = fds < 0 ? -1 : fds - 1; /* not counting the directory stream */
}
